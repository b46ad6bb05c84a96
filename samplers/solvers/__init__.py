"""Rectified-flow ODE/SDE solvers in the k-diffusion sampler signature (pure torch, never imports comfy).

Every solver is `fn(model, x, sigmas, extra_args=None, callback=None, disable=None, **options) -> x`, so
`comfy.samplers.KSAMPLER(fn, extra_options)` wraps it unchanged. `model(x, sigma * s_in, **extra_args)` returns the
denoised estimate x0_hat; for the flow (CONST) convention the velocity is v = (x - x0_hat) / sigma and dx/dsigma = v.
Sigmas decreasing generate (noise -> data); increasing invert (data -> noise). Step sizes h = sigma_next - sigma
carry the direction, so every formula in this package serves both.

The model is never called at sigma = 0: the exact velocity there is v(x, 0) = -x (`core.flow_velocity`), free.
Heun, RK3, RK4 and the predictor-corrector offer final_step="exact", which uses it as the stage (corrector) at 0
and keeps every method's order all the way to 0 on smooth densities. Their default final_step="denoised" takes
the Euler step onto x0_hat instead (k-diffusion's rule): on trained models and narrow data the velocity along a
trajectory does not tend to -x as sigma -> 0, and the stage at 0 costs accuracy (`one_step.runge_kutta_step`).
The adaptive solver never uses the velocity at 0 for its solution, and measures the error of its step into 0
against the explicit midpoint solution.

Package layout: core (velocity, dtype, callback), one_step (Euler, Heun, RK3, RK4, RF-Solver), fireflow, multistep
(AB2, AB3, predictor-corrector), adaptive (Bogacki-Shampine 3(2)), sde, registry (SOLVERS).
"""
from __future__ import annotations

from .adaptive import SolverBudgetError, bogacki_shampine_step, sample_flow_adaptive
from .core import Callback, NoiseSampler, Step, Velocity, compute_dtype, flow_velocity
from .fireflow import fireflow_step, sample_fireflow
from .multistep import (
    MAX_STEP_RATIO, STARTS, adams_increment, check_adams_options, sample_adams_bashforth, sample_flow_ab2, sample_flow_ab3,
    sample_flow_pc, usable_order,
)
from .one_step import (
    FINAL_STEPS, HEUN, KUTTA3, MIDPOINT, RK4, ButcherTableau, euler_step, explicit_rk_step, rf_solver_step,
    rf_solver_step_midpoint, runge_kutta_step, check_final_step,
    sample_flow_euler, sample_flow_heun, sample_flow_rk3, sample_flow_rk4, sample_rf_solver,
)
from .registry import SOLVERS, SolverInfo
from .sde import DIFFUSION_SHAPES, sample_flow_sde

__all__ = [
    "SOLVERS", "SolverInfo", "SolverBudgetError", "Callback", "NoiseSampler", "Step", "Velocity", "compute_dtype",
    "flow_velocity", "euler_step", "sample_flow_euler", "ButcherTableau", "HEUN", "MIDPOINT", "KUTTA3", "RK4",
    "explicit_rk_step", "runge_kutta_step", "FINAL_STEPS", "check_final_step", "sample_flow_heun", "sample_flow_rk3", "sample_flow_rk4",
    "rf_solver_step", "rf_solver_step_midpoint", "sample_rf_solver", "sample_fireflow", "fireflow_step", "STARTS",
    "MAX_STEP_RATIO", "usable_order", "check_adams_options", "sample_adams_bashforth", "adams_increment",
    "sample_flow_ab2", "sample_flow_ab3", "sample_flow_pc", "bogacki_shampine_step", "sample_flow_adaptive",
    "DIFFUSION_SHAPES", "sample_flow_sde",
]
