"""DNAEdit: direct noise alignment and mobile velocity guidance for rectified-flow editing (Xie et al.,
arXiv 2506.01430), after the official code (xiechenxi99/DNAEdit_code, DNAEdit_SD3 / DNAEdit_FLUX), whose time
t = timestep / 1000 is ComfyUI's sigma (1 noise, 0 data).

Over T steps of decreasing `sigmas`, the first `start` steps are skipped; K = T - start steps run each way.
- Direct noise alignment, image -> sigma_start over the increasing sigmas u_0 = sigma_T .. u_K = sigma_start, with a
  noise estimate eps (a Gaussian draw at first) and z = x_src: per step
  x_hat = z + (u' - u) / (1 - u) * (eps - z)          (the straight line toward eps, at u')
  v = v_src(x_hat, u'),  d = (eps - z) / (1 - u) - v    (the velocity error there)
  z <- z + (u' - u) v,   dx = (u' - u) d = x_hat - z,   eps <- eps - (1 - u) d;  v and dx are kept per step.
- Mobile velocity guidance, sigma_start -> image, from z: at step i (sigma s -> s') with the kept v_i, dx_i of the
  inversion step that ended at s:
  v_t = v_tar(z + dx_i, s),  x_ref <- x_ref + (s' - s)(v_t - v_i)   (x_ref starts at x_src),
  z <- z + (s' - s) * (mvg v_t + (1 - mvg) (z - x_ref) / s).
With equal branches and mvg = 1 the edit retraces the inversion exactly (back to x_src); with mvg = 0 the last step
(to sigma 0) lands on x_ref.
"""
from __future__ import annotations

import math

import torch

from .common import Callback, Velocity, compute, decreasing_sigmas, report


def check_dnaedit_options(start: int, mvg: float, steps: int | None = None) -> None:
    """Raise naming the option that is out of range (0 <= start < steps, mvg in [0, 1])."""
    if not math.isfinite(mvg) or not 0.0 <= mvg <= 1.0:
        raise ValueError(f"mvg: expected a mobile velocity guidance weight in [0, 1], got {mvg!r}")
    if start < 0 or (steps is not None and start >= steps):
        raise ValueError(f"start: expected 0 <= start < steps ({steps}) so that at least one step edits, got {start}")


def noise_alignment(v_src: Velocity, x_src: torch.Tensor, eps: torch.Tensor, sigmas_up: list[float],
                    callback: Callback = None) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """DNA inversion (arXiv 2506.01430) over increasing `sigmas_up` (each below 1 where a step starts); one model call
    per step. Returns the latent at sigmas_up[-1] and, per step, the source velocity and the offset dx."""
    z, velocities, offsets = x_src, [], []
    for k, (u, u_next) in enumerate(zip(sigmas_up, sigmas_up[1:])):
        toward_noise = (eps - z) / (1.0 - u)
        x_hat = z + (u_next - u) * toward_noise
        v = v_src(x_hat, u_next)
        error = toward_noise - v
        z = z + (u_next - u) * v
        eps = eps - (1.0 - u) * error
        velocities.append(v)
        offsets.append((u_next - u) * error)
        report(callback, k, z, z - u_next * v, u_next)
    return z, velocities, offsets


def mobile_velocity_guidance(v_tar: Velocity, z: torch.Tensor, x_src: torch.Tensor, sigmas: list[float],
                             velocities: list[torch.Tensor], offsets: list[torch.Tensor], mvg: float,
                             callback: Callback = None, first_step: int = 0) -> torch.Tensor:
    """MVG sampling (arXiv 2506.01430) over decreasing `sigmas` (positive where a step starts), step i paired with
    velocities[i] and offsets[i] of the inversion step that ended at sigmas[i]; one model call per step."""
    x_ref = x_src
    for i, (sigma, sigma_next) in enumerate(zip(sigmas, sigmas[1:])):
        v_t = v_tar(z + offsets[i], sigma)
        x_ref = x_ref + (sigma_next - sigma) * (v_t - velocities[i])
        v = mvg * v_t + (1.0 - mvg) * (z - x_ref) / sigma
        report(callback, first_step + i, z, z - sigma * v, sigma)
        z = z + (sigma_next - sigma) * v
    return z


def dnaedit(v_src: Velocity, v_tar: Velocity, x_src: torch.Tensor, sigmas: torch.Tensor, noise: torch.Tensor,
            start: int = 13, mvg: float = 0.8, callback: Callback = None) -> torch.Tensor:
    """DNAEdit (arXiv 2506.01430): noise alignment of x_src from the Gaussian draw `noise` up to sigmas[start], then
    mobile velocity guidance back down. 2 (T - start) model calls. Callback steps: inversion 0..K-1, edit
    2T-K..2T-1 with K = T - start."""
    values = decreasing_sigmas(sigmas)
    steps = len(values) - 1
    check_dnaedit_options(start, mvg, steps)
    x_src = compute(x_src)
    used = values[start:]
    z, velocities, offsets = noise_alignment(v_src, x_src, noise.to(x_src), used[::-1], callback)
    velocities, offsets = velocities[::-1], offsets[::-1]
    return mobile_velocity_guidance(v_tar, z, x_src, used, velocities, offsets, mvg, callback,
                                    2 * steps - len(used) + 1)
