"""Inversion-regeneration editing with second-order flow solvers: RF-Solver-Edit (Wang et al., arXiv 2411.04746)
and FireFlow (Deng et al., arXiv 2412.07517).

The source latent is inverted toward noise with the solver under the source velocity v_src over the flipped
schedule, then regenerated with the same solver under the target velocity v_tar. Both papers' code runs time
t = sigma (ComfyUI's CONST convention: sigma 0 image, 1 noise), so no conversion is needed. For T steps over
decreasing sigmas s_0 > ... > s_T, inversion step i runs s_{T-i} -> s_{T-1-i} and regeneration step j runs
s_j -> s_{j+1}.
- RF-Solver: x' = x + h v + h^2/2 dv, dv = (v(x + h/2 v, s + h/2) - v) / (h/2); 2 model calls per step.
- FireFlow: x' = x + h v(x + h/2 u, s + h/2), u the previous step's midpoint velocity (v(x, s) on each pass's first
  step); 1 call per step + 1 per pass.

Value-feature sharing (RF-Solver-Edit's V injection, reused by FireFlow): the official code keys the attention values
of every model evaluation by (sigma the step goes to in inversion / starts from in regeneration, start or midpoint
stage). Hence inversion step T-1-j stores what regeneration step j injects, stage by stage, and only the first
`inject` regeneration steps (the noisiest) share. This module only announces, before each model evaluation, the
mode and key through `hook(mode, shared_step, stage)`; the attention itself is the node layer's business.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..messages import quoted
from ..solvers.fireflow import fireflow_step
from ..solvers.one_step import rf_solver_step
from .common import Callback, Velocity, compute, decreasing_sigmas, report

SOLVERS = ("rf_solver", "fireflow")
STORE, INJECT, OFF = "store", "inject", "off"
START, MIDPOINT = 0, 1   # stages of a step: the velocity at its start sigma, the one at its midpoint
FeatureHook = Callable[[str, int, int], None] | None   # (mode, shared step, stage), before each model evaluation


def check_solver_edit_options(solver: str, inject: int) -> None:
    """Raise naming the option that is out of range (solver one of SOLVERS, inject >= 0)."""
    if solver not in SOLVERS:
        raise ValueError(f"solver: {quoted(solver)} is not an option; expected one of {list(SOLVERS)}")
    if inject < 0:
        raise ValueError(f"inject_steps: expected 0 (no value sharing) or more steps, got {inject}")


def sharing_mode(phase: str, step: int, steps: int, inject: int) -> tuple[str, int]:
    """(mode, shared step) of a pass's step: inversion step i stores for regeneration step T-1-i; regeneration step j
    injects; only shared steps below `inject` take part (an inject above T shares in every step)."""
    shared = steps - 1 - step if phase == "inversion" else step
    if shared >= inject:
        return OFF, shared
    return (STORE if phase == "inversion" else INJECT), shared


def announced(v: Velocity, hook: FeatureHook, mode: str, shared: int, stage: int) -> Velocity:
    """v, telling the hook which features the evaluation stores or injects before each call."""
    def velocity(x: torch.Tensor, sigma: float) -> torch.Tensor:
        if hook is not None:
            hook(mode, shared, stage)
        return v(x, sigma)
    return velocity


def solver_pass(v: Velocity, x: torch.Tensor, sigmas: list[float], solver: str, phase: str, inject: int,
                hook: FeatureHook, on_step: Callable[[int, torch.Tensor, torch.Tensor, torch.Tensor, float], None]
                ) -> torch.Tensor:
    """Integrate dx/dsigma = v over `sigmas` (either direction) with RF-Solver or FireFlow steps.
    on_step(i, x_before, x_after, start_velocity, sigma) follows every step."""
    steps, u = len(sigmas) - 1, None
    for i, (sigma, sigma_next) in enumerate(zip(sigmas, sigmas[1:])):
        mode, shared = sharing_mode(phase, i, steps, inject)
        midpoint = announced(v, hook, mode, shared, MIDPOINT)
        start = u if u is not None else announced(v, hook, mode, shared, START)(x, sigma)
        if solver == "fireflow":
            x_next, u = fireflow_step(lambda y, s: (midpoint(y, s), None), x, sigma, sigma_next, start)
        else:
            x_next = rf_solver_step(lambda y, s: (midpoint(y, s), None), x, sigma, sigma_next, start)
        on_step(i, x, x_next, start, sigma)
        x = x_next
    return x


def solver_inversion(v_src: Velocity, x_src: torch.Tensor, sigmas: torch.Tensor, solver: str = "rf_solver",
                     inject: int = 0, hook: FeatureHook = None, callback: Callback = None) -> torch.Tensor:
    """Invert x_src (sigma 0) to the noise at sigmas[0] with v_src over the flipped decreasing `sigmas`."""
    check_solver_edit_options(solver, inject)
    values = decreasing_sigmas(sigmas)
    x_src = compute(x_src)
    return solver_pass(v_src, x_src, values[::-1], solver, "inversion", inject, hook,
                       lambda i, x, x_next, v, sigma: report(callback, i, x_next, x_src, sigma))


def solver_regeneration(v_tar: Velocity, x_noise: torch.Tensor, sigmas: torch.Tensor, solver: str = "rf_solver",
                        inject: int = 0, hook: FeatureHook = None, callback: Callback = None, first_step: int = 0
                        ) -> torch.Tensor:
    """Regenerate from x_noise at sigmas[0] with v_tar over decreasing `sigmas`; callback steps from first_step."""
    check_solver_edit_options(solver, inject)
    values = decreasing_sigmas(sigmas)
    return solver_pass(v_tar, compute(x_noise), values, solver, "regeneration", inject, hook,
                       lambda i, x, x_next, v, sigma: report(callback, first_step + i, x, x - sigma * v, sigma))


def solver_edit(v_src: Velocity, v_tar: Velocity, x_src: torch.Tensor, sigmas: torch.Tensor,
                solver: str = "rf_solver", inject: int = 0, hook: FeatureHook = None, callback: Callback = None
                ) -> torch.Tensor:
    """RF-Solver-Edit (arXiv 2411.04746) or FireFlow (arXiv 2412.07517) edit of x_src over decreasing `sigmas`
    (T steps): solver inversion under v_src, then regeneration under v_tar; returns the edited latent.

    Model calls (v(x, 0) = -x free): rf_solver 4T - 1, fireflow 2T + 1. `hook` hears (mode, shared step, stage)
    before each evaluation, mode "store" (inversion), "inject" (regeneration) or "off" (see the module docstring).
    Callback steps run 0 .. 2T - 1."""
    check_solver_edit_options(solver, inject)
    steps = len(decreasing_sigmas(sigmas)) - 1
    noise = solver_inversion(v_src, x_src, sigmas, solver, inject, hook, callback)
    return solver_regeneration(v_tar, noise, sigmas, solver, inject, hook, callback, steps)
