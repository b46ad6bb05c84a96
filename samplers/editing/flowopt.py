"""FlowOpt: fast optimization through whole flow processes for training-free editing (Ronai, Kulikov, Michaeli,
arXiv 2510.22010), following its official code (github.com/orronai/FlowOpt, utils/sd3.py and utils/flux.py).

Written in ComfyUI's sigma convention (sigma = 1 noise, 0 image), which is the official code's t = sigma. With the
edit window starting at sigma_start = sigmas[T - n_max]:
1. invert the source x_src from the end of the schedule up to sigma_start with the source velocity, by UniInv
   (the official code's inversion, from UniEdit-Flow): for each step s -> s' with d = s' - s,
   x <- x + d * v_src(x + d * v_pred, s'), where v_pred is v_src(x, s) on the first step and afterwards the
   velocity found at the previous look-ahead point;
2. repeat `iterations` times: f = Euler sampling of v_tar from the inverted x over sigmas[T - n_max:], then the
   zero-order step of Eq. 6, x <- x - eta * (f - x_src) (the Jacobian of the whole flow replaced by the identity);
3. return one last Euler sampling f from the optimised x.
iterations = 0 or eta = 0 is plain invert-and-regenerate.
"""
from __future__ import annotations

import torch

from .common import Callback, Velocity, compute, decreasing_sigmas, report
from .uniedit import uni_inversion   # FlowOpt inverts with UniInv (arXiv 2504.13109)


def check_flowopt_options(n_max: int, iterations: int, eta: float) -> None:
    """Raise naming the option that is out of range (n_max >= 1, iterations >= 0, eta >= 0 and finite)."""
    if n_max < 1:
        raise ValueError(f"n_max: expected at least 1 step of the schedule to edit over, got {n_max}")
    if iterations < 0:
        raise ValueError(f"iterations: expected 0 or more FlowOpt iterations, got {iterations}")
    if not 0.0 <= eta < float("inf"):
        raise ValueError(f"eta: expected a finite step size >= 0, got {eta!r}")


def euler_sampling(v_tar: Velocity, x: torch.Tensor, sigmas: list[float], callback: Callback = None,
                   first_step: int = 0) -> torch.Tensor:
    """Plain Euler sampling over decreasing `sigmas` (one model call per step)."""
    for i, (sigma, sigma_next) in enumerate(zip(sigmas, sigmas[1:])):
        v = v_tar(x, sigma)
        report(callback, first_step + i, x, x - sigma * v, sigma)
        x = x + (sigma_next - sigma) * v
    return x


def flow_opt(v_src: Velocity, v_tar: Velocity, x_src: torch.Tensor, sigmas: torch.Tensor, n_max: int = 12,
             iterations: int = 8, eta: float = 0.01, callback: Callback = None) -> torch.Tensor:
    """FlowOpt editing (arXiv 2510.22010, Eq. 6) over decreasing `sigmas` (T steps); returns the edited latent.

    Model calls: n_max (+1 when the schedule ends above 0) for the inversion and (iterations + 1) * n_max for the
    samplings, n_max * (iterations + 2) in all. Callback steps run 0 .. n_max * (iterations + 2) - 1."""
    check_flowopt_options(n_max, iterations, eta)
    values = decreasing_sigmas(sigmas)
    window = values[len(values) - 1 - min(n_max, len(values) - 1):]
    x_src = compute(x_src)
    x = uni_inversion(v_src, x_src, window[::-1], callback)
    steps = len(window) - 1
    for k in range(iterations + 1):
        edited = euler_sampling(v_tar, x, window, callback, steps * (k + 1))
        if k < iterations:
            x = x - eta * (edited - x_src)
    return edited
