"""FireFlow: midpoint steps that reuse the previous midpoint velocity (1 model call per step + 1)."""
from __future__ import annotations

import torch

from .core import Callback, Velocity, prepare, report_step


def fireflow_step(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                  u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One FireFlow step (arXiv 2412.07517): u_mid = v(x + h/2 u, sigma + h/2), x' = x + h u_mid; returns (x', u_mid),
    u_mid being the next step's start velocity u."""
    h = sigma_next - sigma
    u_mid, _ = velocity(x + 0.5 * h * u, sigma + 0.5 * h)
    return x + h * u_mid, u_mid


@torch.no_grad()
def sample_fireflow(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """FireFlow (arXiv 2412.07517): midpoint steps x' = x + h v(x + h/2 u, sigma + h/2), u = last midpoint velocity.

    The start velocity u of each step is the previous step's midpoint velocity (the true v(x, sigma) only on the
    first step), so N steps cost N + 1 model calls. The preview x0_hat of a reused step is x - sigma * u.
    """
    out_dtype = x.dtype
    x, sigmas, velocity = prepare(model, x, sigmas, extra_args)
    u, denoised = velocity(x, sigmas[0])
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        report_step(callback, i, x, sigma, sigma, denoised if i == 0 else x - sigma * u)
        x, u = fireflow_step(velocity, x, sigma, sigmas[i + 1], u)
    return x.to(out_dtype)
