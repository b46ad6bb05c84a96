"""Rectified-flow ODE/SDE solvers in the k-diffusion sampler signature (pure torch, never imports comfy).

Every solver is `fn(model, x, sigmas, extra_args=None, callback=None, disable=None, **options) -> x`, so
`comfy.samplers.KSAMPLER(fn, extra_options)` wraps it unchanged. `model(x, sigma * s_in, **extra_args)` returns the
denoised estimate x0_hat; for the flow (CONST) convention the velocity is v = (x - x0_hat) / sigma and dx/dsigma = v.
Sigmas decreasing generate (noise -> data); increasing invert (data -> noise). Step sizes h = sigma_next - sigma
carry the direction, so every formula in this package serves both.

Generation never evaluates the model at sigma = 0: a fixed step whose last stage would sit at sigma = 0 (Heun,
RK3, RK4) becomes the Euler step, which lands exactly on x0_hat (k-diffusion's rule). Solvers whose stages stay
above 0 (RF-Solver, FireFlow: midpoint at sigma / 2; Adams-Bashforth: history only) keep their own update; the
predictor-corrector skips the corrector of its last step and the adaptive solver swaps its error estimate.

Package layout: core (velocity, dtype, callback), one_step (Euler, Heun, RK3, RK4, RF-Solver), fireflow, multistep
(AB2, AB3, predictor-corrector), adaptive (Bogacki-Shampine 3(2)), sde, registry (SOLVERS).
"""
from __future__ import annotations

from .adaptive import SolverBudgetError, bogacki_shampine_step, sample_flow_adaptive
from .core import Callback, NoiseSampler, Step, Velocity, compute_dtype, flow_velocity
from .fireflow import sample_fireflow
from .multistep import WARMUPS, adams_increment, sample_flow_ab2, sample_flow_ab3, sample_flow_pc
from .one_step import (
    HEUN, KUTTA3, MIDPOINT, RK4, ButcherTableau, euler_step, explicit_rk_step, rf_solver_step, rf_solver_step_midpoint,
    runge_kutta_step, sample_flow_euler, sample_flow_heun, sample_flow_rk3, sample_flow_rk4, sample_rf_solver,
)
from .registry import SOLVERS, SolverInfo
from .sde import DIFFUSION_SHAPES, sample_flow_sde

__all__ = [
    "SOLVERS", "SolverInfo", "SolverBudgetError", "Callback", "NoiseSampler", "Step", "Velocity", "compute_dtype",
    "flow_velocity", "euler_step", "sample_flow_euler", "ButcherTableau", "HEUN", "MIDPOINT", "KUTTA3", "RK4",
    "explicit_rk_step", "runge_kutta_step", "sample_flow_heun", "sample_flow_rk3", "sample_flow_rk4",
    "rf_solver_step", "rf_solver_step_midpoint", "sample_rf_solver", "sample_fireflow", "WARMUPS", "adams_increment",
    "sample_flow_ab2", "sample_flow_ab3", "sample_flow_pc", "bogacki_shampine_step", "sample_flow_adaptive",
    "DIFFUSION_SHAPES", "sample_flow_sde",
]
