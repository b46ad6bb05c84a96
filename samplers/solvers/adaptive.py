"""Adaptive embedded Bogacki-Shampine 3(2) flow solver with step-size control."""
from __future__ import annotations

import math

import torch

from .core import Callback, Velocity, combine, prepare, report_step


class SolverBudgetError(RuntimeError):
    """The adaptive solver ran out of model evaluations before reaching the last sigma."""


def _error_norm(error: torch.Tensor, x: torch.Tensor, x_new: torch.Tensor, rtol: float, atol: float) -> float:
    """Largest per-sample RMS of error / (atol + rtol * max(|x|, |x_new|))."""
    scale = atol + rtol * torch.maximum(x.abs(), x_new.abs())
    return float((error / scale).pow(2).flatten(1).mean(1).sqrt().max())


def _scaled_rms(values: torch.Tensor, x: torch.Tensor, rtol: float, atol: float) -> float:
    return float((values / (atol + rtol * x.abs())).pow(2).mean().sqrt())


def _initial_step(velocity: Velocity, x: torch.Tensor, sigma: float, v: torch.Tensor, direction: float,
                  span: float, rtol: float, atol: float) -> float:
    """Hairer-Norsett-Wanner I, II.4 starting step for a third-order pair (one trial model call): a tiny Euler probe
    measures how fast v changes, then h = min(100 h0, (0.01 / max(|v|, |dv/dsigma|))^(1/4)) in the tolerance-scaled
    norm. Loose tolerances thus start with large steps instead of spending their budget growing from 0.01."""
    d0, d1 = _scaled_rms(x, x, rtol, atol), _scaled_rms(v, x, rtol, atol)
    h0 = min(0.01 * d0 / d1 if d0 > 1e-5 and d1 > 1e-5 else 1e-6, span)
    if sigma + direction * h0 == 0.0:
        return h0
    v_probe, _ = velocity(x + direction * h0 * v, x.new_tensor(sigma + direction * h0))
    d2 = _scaled_rms(v_probe - v, x, rtol, atol) / h0
    largest = max(d1, d2)
    h1 = (0.01 / largest) ** 0.25 if largest > 1e-15 else max(1e-6, 1e-3 * h0)
    return min(100 * h0, h1, span)


def bogacki_shampine_step(velocity: Velocity, x: torch.Tensor, sigma: float, h: float, v: torch.Tensor,
                          final_at_zero: bool) -> tuple[torch.Tensor, torch.Tensor, tuple | None]:
    """One Bogacki-Shampine 3(2) step (Bogacki & Shampine 1989, FSAL): (x_new, error estimate, (v_new, x0_hat) or None).

    The embedded 2nd-order solution needs v(x_new, sigma + h). For the step into sigma = 0 in generation the error
    is measured against the explicit midpoint solution x + h k2 instead: on trained models the exact v(x, 0) = -x
    does not continue the trajectory's velocity, and would inflate the estimate.
    """
    new = x.new_tensor
    k2, _ = velocity(x + 0.5 * h * v, new(sigma + 0.5 * h))
    k3, _ = velocity(x + 0.75 * h * k2, new(sigma + 0.75 * h))
    x_new = x + h * combine((2 / 9, 1 / 3, 4 / 9), [v, k2, k3])
    if final_at_zero:
        return x_new, h * combine((2 / 9, -2 / 3, 4 / 9), [v, k2, k3]), None
    k4, denoised = velocity(x_new, new(sigma + h))
    error = h * combine((-5 / 72, 1 / 12, 1 / 9, -1 / 8), [v, k2, k3, k4])
    return x_new, error, (k4, denoised)


@torch.no_grad()
def sample_flow_adaptive(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                         callback: Callback = None, disable: bool | None = None, rtol: float = 1e-3,
                         atol: float = 1e-4, max_nfe: int = 500) -> torch.Tensor:
    """Adaptive Bogacki-Shampine 3(2) with FSAL (Bogacki & Shampine 1989; Hairer-Norsett-Wanner II.4 control).

    The sigmas are checkpoints: each interval is integrated with as many accepted steps as rtol/atol require, and
    the solution passes through every checkpoint exactly. The callback runs once per accepted step (i counts them).
    When the next attempt would exceed max_nfe model calls, SolverBudgetError is raised (never a silent big step).
    The first step size comes from one trial call (`_initial_step`), so a run costs 2 + 3 per attempted step
    (2 for a step into sigma 0).
    """
    if not (rtol > 0 and atol > 0 and max_nfe >= 1):
        raise ValueError(f"sample_flow_adaptive: need rtol > 0, atol > 0, max_nfe >= 1; got {rtol}, {atol}, {max_nfe}")
    out_dtype = x.dtype
    x, sigmas, velocity = prepare(model, x, sigmas, extra_args)
    v, denoised = velocity(x, sigmas[0])
    checkpoints = [float(s) for s in sigmas]
    direction = math.copysign(1.0, checkpoints[-1] - checkpoints[0])
    h_abs = _initial_step(velocity, x, checkpoints[0], v, direction, abs(checkpoints[-1] - checkpoints[0]), rtol, atol)
    nfe, accepted = int(checkpoints[0] != 0) + 1, 0
    for start, end in zip(checkpoints[:-1], checkpoints[1:]):
        sigma, direction = start, math.copysign(1.0, end - start)
        while sigma != end:
            lands = abs(end - sigma) <= h_abs
            h = end - sigma if lands else direction * h_abs
            final_at_zero = sigma + h == 0.0
            cost = 2 if final_at_zero else 3
            if nfe + cost > max_nfe:
                raise SolverBudgetError(
                    f"sample_flow_adaptive: max_nfe={max_nfe} reached at sigma={sigma:.4g} after {accepted} accepted "
                    f"steps (rtol={rtol:g}, atol={atol:g}); raise max_nfe or loosen rtol/atol")
            x_new, error, fsal = bogacki_shampine_step(velocity, x, sigma, h, v, final_at_zero)
            nfe += cost
            err = _error_norm(error, x, x_new, rtol, atol)
            if err <= 1.0:
                report_step(callback, accepted, x, x.new_tensor(sigma), x.new_tensor(sigma), denoised)
                x, sigma, accepted = x_new, (end if lands else sigma + h), accepted + 1
                if fsal is not None:
                    v, denoised = fsal
            factor = 5.0 if err == 0 else 0.9 * err ** (-1 / 3)
            h_abs = abs(h) * min(5.0 if err <= 1.0 else 1.0, max(0.2, factor))
    return x.to(out_dtype)
