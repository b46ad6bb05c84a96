"""Variable-step multistep flow solvers: Adams-Bashforth 2 and 3, and the Adams predictor-corrector (UniPC-style)."""
from __future__ import annotations

import torch

from .core import Callback, combine, prepare, report_step
from .one_step import HEUN, explicit_rk_step


def _polynomial_integral_weights(nodes: list[float], start: float, end: float) -> list[float]:
    """w_j = integral over [start, end] of the Lagrange basis polynomial of node j (variable-step Adams weights).

    Nodes are shifted to `start` for conditioning; exact up to rounding for any distinct nodes.
    """
    shifted = [n - start for n in nodes]
    length = end - start
    weights = []
    for j, node_j in enumerate(shifted):
        coeffs, denom = [1.0], 1.0  # polynomial in (t - start), ascending powers
        for m, node_m in enumerate(shifted):
            if m != j:
                coeffs = [lower - node_m * same for same, lower in zip(coeffs + [0.0], [0.0] + coeffs)]  # * (t - m)
                denom *= node_j - node_m
        weights.append(sum(c * length ** (k + 1) / (k + 1) for k, c in enumerate(coeffs)) / denom)
    return weights


def adams_increment(history: list[tuple[float, torch.Tensor]], sigma: float, sigma_next: float) -> torch.Tensor:
    """integral_sigma^sigma_next of the polynomial through history [(sigma_j, v_j)]: the Adams update of x."""
    nodes = [s for s, _ in history]
    weights = _polynomial_integral_weights(nodes, sigma, sigma_next)
    return combine(weights, [v for _, v in history])


WARMUPS = ("euler", "heun")


def _sample_adams_bashforth(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None,
                            callback: Callback, order: int, warmup: str = "euler") -> torch.Tensor:
    if warmup not in WARMUPS:
        raise ValueError(f"Adams-Bashforth warmup must be one of {WARMUPS}, got {warmup!r}")
    out_dtype = x.dtype
    x, sigmas, velocity = prepare(model, x, sigmas, extra_args)
    history: list[tuple[float, torch.Tensor]] = []
    for i in range(len(sigmas) - 1):
        v, denoised = velocity(x, sigmas[i])
        report_step(callback, i, x, sigmas[i], sigmas[i], denoised)
        history = (history + [(float(sigmas[i]), v)])[-order:]
        if i == 0 and warmup == "heun" and sigmas[1] != 0:
            x = explicit_rk_step(velocity, x, sigmas[0], sigmas[1], v, HEUN)
        else:
            x = x + adams_increment(history, float(sigmas[i]), float(sigmas[i + 1]))
    return x.to(out_dtype)


@torch.no_grad()
def sample_flow_ab2(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """Variable-step Adams-Bashforth 2 in sigma: x' = x + h ((1 + r/2) v_i - r/2 v_{i-1}), r = h / h_prev.

    The flow analogue of DPM-Solver++(2M) (arXiv 2211.01095 Alg. 2); Euler on the first step; 1 NFE/step.
    """
    return _sample_adams_bashforth(model, x, sigmas, extra_args, callback, order=2)


@torch.no_grad()
def sample_flow_ab3(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None, warmup: str = "euler") -> torch.Tensor:
    """Variable-step Adams-Bashforth 3 in sigma (quadratic through the last three velocities, integrated exactly).

    The flow analogue of DPM-Solver++(3M), 1 NFE/step. warmup="euler" starts with Euler then AB2 like 3M; its
    first-step O(h^2) error makes the global order 2 as h -> 0 (3 in practice at moderate step counts).
    warmup="heun" takes the first step with Heun (one extra call) and is third order throughout.
    """
    return _sample_adams_bashforth(model, x, sigmas, extra_args, callback, order=3, warmup=warmup)


@torch.no_grad()
def sample_flow_pc(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                   callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """UniPC-style predictor-corrector (arXiv 2302.04867, UniC reuses the model output) with Adams polynomials.

    Variable-step Adams-Bashforth-Moulton in PEC mode: the AB2 predictor gives x_{i+1}; the model is evaluated
    there once; that evaluation corrects the step just taken with the third-order Adams-Moulton (trapezoid on the
    first step) and is reused as the next predictor's velocity, like UniC reusing the model output. 1 NFE/step, order 3.
    The last step is not corrected (that would cost an extra call, at sigma = 0 in generation).
    """
    out_dtype = x.dtype
    x, sigmas, velocity = prepare(model, x, sigmas, extra_args)
    history: list[tuple[float, torch.Tensor]] = []
    x_start = x
    for i in range(len(sigmas) - 1):
        sigma = float(sigmas[i])
        v, denoised = velocity(x, sigmas[i])
        if history:  # corrector for the step history[-1] -> sigma, using the new evaluation
            x = x_start + adams_increment(history + [(sigma, v)], history[-1][0], sigma)
        history = (history + [(sigma, v)])[-2:]
        report_step(callback, i, x, sigmas[i], sigmas[i], denoised)
        x_start = x
        x = x + adams_increment(history, sigma, float(sigmas[i + 1]))
    return x.to(out_dtype)
