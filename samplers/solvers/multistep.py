"""Variable-step multistep flow solvers: Adams-Bashforth 2 and 3, and the Adams predictor-corrector (UniPC-style)."""
from __future__ import annotations

import torch

from ..messages import quoted
from .core import Callback, combine, prepare, report_step
from .one_step import HEUN, check_final_step, explicit_rk_step


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


STARTS = ("heun", "euler")
MAX_STEP_RATIO = 2.0
RATIO_SLACK = 1e-6  # schedules rounded to float32 sit a hair above their nominal ratio


def usable_order(steps: list[float], order: int, max_step_ratio: float) -> int:
    """Largest Adams order <= `order` whose history is safe for the next step: with steps = [..., h_prev, h], each of
    the last order-1 step ratios |h_j / h_{j-1}| must stay <= max_step_ratio. Extrapolating a polynomial far beyond
    the span of its nodes amplifies errors (variable-step Adams is zero-stable only for bounded ratios), so where a
    schedule jumps (linear-quadratic, optimal steps) the step falls back to a lower order, down to Euler."""
    usable = 1
    for back in range(1, min(order, len(steps))):
        if abs(steps[-back]) > max_step_ratio * (1 + RATIO_SLACK) * abs(steps[-back - 1]):
            break
        usable += 1
    return usable


def step_sizes(history: list[tuple[float, torch.Tensor]], end: float) -> list[float]:
    """The steps between the history's sigmas and on to `end`: what `usable_order` judges."""
    nodes = [sigma for sigma, _ in history] + [end]
    return [b - a for a, b in zip(nodes[:-1], nodes[1:])]


def check_step_ratio(max_step_ratio: float) -> None:
    if not max_step_ratio >= 1.0:  # also refuses NaN
        raise ValueError(f"max_step_ratio: expected a number >= 1, got {quoted(max_step_ratio)}")


def check_adams_options(order: int, start: str, max_step_ratio: float) -> None:
    """Raise naming the first bad option (messages quote the value: nodes pass them on unchanged)."""
    if order not in (1, 2, 3):
        raise ValueError(f"order: expected 1, 2 or 3 for Adams-Bashforth, got {quoted(order)}")
    if start not in STARTS:
        raise ValueError(f"start: {quoted(start)} is not a start method; expected one of {list(STARTS)}")
    check_step_ratio(max_step_ratio)


@torch.no_grad()
def sample_adams_bashforth(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                           callback: Callback = None, disable: bool | None = None, order: int = 3,
                           start: str = "heun", max_step_ratio: float = MAX_STEP_RATIO) -> torch.Tensor:
    """Variable-step Adams-Bashforth of the given order in sigma (polynomial through the last velocities, integrated
    exactly); 1 NFE per step.

    start="heun" takes the first step with Heun (one extra call; none when that step ends at sigma 0), which keeps
    order 3 for order=3; start="euler" begins with Euler like DPM-Solver++ 3M, whose O(h^2) first step caps order 3
    at 2. Steps whose ratio to the previous one exceeds max_step_ratio use a lower order (`usable_order`).
    """
    check_adams_options(order, start, max_step_ratio)
    out_dtype = x.dtype
    x, sigmas, velocity = prepare(model, x, sigmas, extra_args)
    history: list[tuple[float, torch.Tensor]] = []
    for i in range(len(sigmas) - 1):
        v, denoised = velocity(x, sigmas[i])
        report_step(callback, i, x, sigmas[i], sigmas[i], denoised)
        history = (history + [(float(sigmas[i]), v)])[-order:]
        if i == 0 and start == "heun" and order > 1:
            x = explicit_rk_step(velocity, x, sigmas[0], sigmas[1], v, HEUN)
            continue
        used = usable_order(step_sizes(history, float(sigmas[i + 1])), len(history), max_step_ratio)
        x = x + adams_increment(history[-used:], float(sigmas[i]), float(sigmas[i + 1]))
    return x.to(out_dtype)


@torch.no_grad()
def sample_flow_ab2(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None, start: str = "euler",
                    max_step_ratio: float = MAX_STEP_RATIO) -> torch.Tensor:
    """Variable-step Adams-Bashforth 2 in sigma: x' = x + h ((1 + r/2) v_i - r/2 v_{i-1}), r = h / h_prev.

    The flow analogue of DPM-Solver++(2M) (arXiv 2211.01095 Alg. 2); Euler on the first step (its O(h^2) error
    keeps order 2); 1 NFE/step. Steps with r > max_step_ratio are Euler steps.
    """
    return sample_adams_bashforth(model, x, sigmas, extra_args, callback, disable, 2, start, max_step_ratio)


@torch.no_grad()
def sample_flow_ab3(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None, start: str = "heun",
                    max_step_ratio: float = MAX_STEP_RATIO) -> torch.Tensor:
    """Variable-step Adams-Bashforth 3 in sigma (quadratic through the last three velocities, integrated exactly).

    The flow analogue of DPM-Solver++(3M), third order: the default start="heun" takes the first step with Heun (one
    extra model call per run); start="euler" saves it but is second order as h -> 0. Steps whose ratio to the previous one exceeds max_step_ratio fall back to AB2 or Euler.
    """
    return sample_adams_bashforth(model, x, sigmas, extra_args, callback, disable, 3, start, max_step_ratio)


@torch.no_grad()
def sample_flow_pc(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                   callback: Callback = None, disable: bool | None = None,
                   max_step_ratio: float = MAX_STEP_RATIO, final_step: str = "denoised") -> torch.Tensor:
    """UniPC-style predictor-corrector (arXiv 2302.04867, UniC reuses the model output) with Adams polynomials.

    Variable-step Adams-Bashforth-Moulton in PEC mode: the AB2 predictor gives x_{i+1}; the model is evaluated
    there once; that evaluation corrects the step just taken with the third-order Adams-Moulton (trapezoid on the
    first step) and is reused as the next predictor's velocity, like UniC reusing the model output. 1 NFE/step, order 3.
    The last step is not corrected (that would cost an extra call; its AB2 error O(h^3) keeps order 3 as h -> 0),
    except with final_step="exact" into sigma 0, where the exact velocity -x is free and corrects it: order 3 all the way to 0 on smooth densities (see `one_step.runge_kutta_step` for why
    "denoised", the uncorrected step, is the default).
    Where a step is more than max_step_ratio times the previous one, predictor and corrector drop one order.
    """
    check_step_ratio(max_step_ratio)
    check_final_step(final_step)
    out_dtype = x.dtype
    x, sigmas, velocity = prepare(model, x, sigmas, extra_args)
    history: list[tuple[float, torch.Tensor]] = []
    x_start = x
    last = len(sigmas) - 1
    for i in range(last + 1):
        if i == last and (sigmas[last] != 0 or final_step != "exact"):
            break
        sigma = float(sigmas[i])
        v, denoised = velocity(x, sigmas[i])
        if history:  # corrector for the step history[-1] -> sigma, using the new evaluation
            used = usable_order(step_sizes(history, sigma), len(history), max_step_ratio)
            nodes = history[-used:] + [(sigma, v)]
            x = x_start + adams_increment(nodes, history[-1][0], sigma)
        if i == last:
            break
        history = (history + [(sigma, v)])[-2:]
        report_step(callback, i, x, sigmas[i], sigmas[i], denoised)
        x_start = x
        used = usable_order(step_sizes(history, float(sigmas[i + 1])), len(history), max_step_ratio)
        x = x + adams_increment(history[-used:], sigma, float(sigmas[i + 1]))
    return x.to(out_dtype)
