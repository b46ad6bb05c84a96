"""FlowEdit: inversion-free text-based editing with flow models (Kulikov et al., arXiv 2412.08629, Algorithm 1).

For sigma_i from the n_max-th last step down: draw eps, noise the source z_src = (1 - s) x_src + s eps, shift it
by the edit so far z_tar = z_edit + z_src - x_src, and take the Euler step
z_edit <- z_edit + (sigma_next - sigma) * mean_eps[v_tar(z_tar, s) - v_src(z_src, s)].
The last n_min steps (official code) switch to plain sampling with v_tar from z_tar, SDEdit-style.
"""
from __future__ import annotations

import torch

from .common import Callback, Velocity, compute, decreasing_sigmas, report



def check_flowedit_options(n_max: int, n_min: int, n_avg: int) -> None:
    """Raise naming the option that is out of range (n_min <= n_max, n_avg >= 1)."""
    if n_avg < 1:
        raise ValueError(f"n_avg: expected at least 1 noise draw per step, got {n_avg}")
    if n_min < 0 or n_max < 1:
        raise ValueError(f"n_max/n_min: expected n_max >= 1 and n_min >= 0, got n_max {n_max}, n_min {n_min}")
    if n_min > n_max:
        raise ValueError(f"n_min: expected n_min <= n_max ({n_max}), got {n_min}")


def flowedit_delta(v_src: Velocity, v_tar: Velocity, x_src: torch.Tensor, z_edit: torch.Tensor, sigma: float,
                   noises: list[torch.Tensor]) -> torch.Tensor:
    """V_delta of Algorithm 1: mean over the noise draws of v_tar(z_tar, s) - v_src(z_src, s)."""
    total = torch.zeros_like(x_src)
    for eps in noises:
        z_src = (1.0 - sigma) * x_src + sigma * eps
        z_tar = z_edit + z_src - x_src
        total = total + (v_tar(z_tar, sigma) - v_src(z_src, sigma))
    return total / len(noises)


def flow_edit(v_src: Velocity, v_tar: Velocity, x_src: torch.Tensor, sigmas: torch.Tensor, draw_noise,
              n_max: int, n_min: int = 0, n_avg: int = 1, callback: Callback = None) -> torch.Tensor:
    """FlowEdit (arXiv 2412.08629) over decreasing `sigmas` (T = len - 1 steps); returns the edited latent.

    Steps i < T - n_max are skipped (the edit starts at sigma_{T - n_max}); steps i >= T - n_min sample with v_tar
    alone from z_tar = z_edit + z_src - x_src noised once at sigma_{T - n_min}, as the official code does.
    `draw_noise()` returns one standard normal draw shaped like x_src (seeded by the caller)."""
    check_flowedit_options(n_max, n_min, n_avg)
    values = decreasing_sigmas(sigmas)
    steps = len(values) - 1
    x_src = compute(x_src)
    z_edit, x_tar = x_src.clone(), None
    first, switch = steps - min(n_max, steps), steps - min(n_min, steps)
    for i in range(steps):
        sigma, sigma_next = values[i], values[i + 1]
        if i < first:
            report(callback, i, z_edit, z_edit, sigma)
            continue
        if i < switch:
            delta = flowedit_delta(v_src, v_tar, x_src, z_edit, sigma, [draw_noise() for _ in range(n_avg)])
            z_edit = z_edit + (sigma_next - sigma) * delta
            report(callback, i, z_edit, z_edit, sigma)
            continue
        if x_tar is None:
            x_tar = z_edit + sigma * (compute(draw_noise()) - x_src)   # z_edit + z_src - x_src
        v = v_tar(x_tar, sigma)
        report(callback, i, x_tar, x_tar - sigma * v, sigma)
        x_tar = x_tar + (sigma_next - sigma) * v
    return z_edit if x_tar is None else x_tar
