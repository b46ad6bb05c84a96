"""UniEdit-Flow: Uni-Inv inversion and Uni-Edit editing for flow models (Jiao et al., arXiv 2504.13109), after the
official code (DSL-Lab/UniEdit-Flow, diffusers schedulers UniInvEulerScheduler / UniEditEulerScheduler), in ComfyUI's
sigma convention (the official flow-matching sigma is the same: 1 noise, 0 data).

Of T steps over decreasing `sigmas`, K = floor(alpha * T) are used; the edit starts at sigma_{T-K} ("delay").
- Uni-Inv (predictor-corrector, velocity reuse) over the increasing sigmas u_0 = sigma_T .. u_K = sigma_{T-K}:
  v = v_inv(Z_0, u_0); then per step x_hat = Z_k + (u_{k+1} - u_k) v, v = v_inv(x_hat, u_{k+1}),
  Z_{k+1} = Z_k + (u_{k+1} - u_k) v. The velocity of one step's predictor is the next step's start velocity.
- Uni-Edit, per step from sigma_i to sigma_{i+1}, both branches at the same latent x:
  g = v_tar - v_src, m = min-max normalised channel mean of g (per sample, + 1e-7 in the denominator),
  x <- x + (sigma_{i+1} - sigma_i) * (omega (1 + m) g + m v_tar + (1 - m) v_src).
The official diffusers demo inverts with an empty prompt; `v_inv` defaults to v_src here.
The mask is the diffusers code's signed channel mean; mask="abs" uses |g| as the official FLUX code does, and
mask_patch=2 averages it over 2x2 latent pixels, the FLUX code's token (its latent is packed 2x2).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .common import Callback, Velocity, compute, decreasing_sigmas, report

MASK_MODES = ("signed", "abs")


def uniedit_steps(alpha: float, steps: int) -> int:
    """K = floor(alpha * T), the steps Uni-Inv and Uni-Edit run (official diffusers schedulers)."""
    return math.floor(alpha * steps) if alpha < 1 else steps


def check_uniedit_options(omega: float, alpha: float, steps: int | None = None, mask: str = "signed",
                          mask_patch: int = 1) -> None:
    """Raise naming the option that is out of range (alpha in (0, 1], at least one step, omega >= 0)."""
    if not math.isfinite(omega) or omega < 0:
        raise ValueError(f"omega: expected a guidance strength >= 0, got {omega!r}")
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha: expected the fraction of steps to run in (0, 1], got {alpha!r}")
    if steps is not None and uniedit_steps(alpha, steps) < 1:
        raise ValueError(f"alpha: floor(alpha * steps) must be at least 1; alpha {alpha!r} with {steps} steps "
                         "runs none (raise alpha or the steps)")
    if mask not in MASK_MODES:
        raise ValueError(f"mask: expected one of {MASK_MODES}, got {ascii(mask)}")
    if mask_patch < 1:
        raise ValueError(f"mask_patch: expected a patch size >= 1, got {mask_patch!r}")


def uni_inversion(v_inv: Velocity, z: torch.Tensor, sigmas_up: list[float], callback: Callback = None
                  ) -> torch.Tensor:
    """Uni-Inv (arXiv 2504.13109) over increasing `sigmas_up`; len(sigmas_up) model calls (the first at sigmas_up[0],
    free at sigma 0 when the velocity knows v(x, 0) = -x). Returns Z at sigmas_up[-1]."""
    v = v_inv(z, sigmas_up[0])
    for k, (sigma, sigma_next) in enumerate(zip(sigmas_up, sigmas_up[1:])):
        v = v_inv(z + (sigma_next - sigma) * v, sigma_next)
        z = z + (sigma_next - sigma) * v
        report(callback, k, z, z - sigma_next * v, sigma_next)
    return z


def velocity_mask(guidance: torch.Tensor, mode: str = "signed", patch: int = 1) -> torch.Tensor:
    """Uni-Edit's region mask: the channel mean (dim 1) of g (or |g|), min-max normalised per sample; shape [B, 1, ...]."""
    mask = (guidance.abs() if mode == "abs" else guidance).mean(dim=1, keepdim=True)
    if patch > 1:
        mask = pooled(mask, patch)
    flat = mask.reshape(mask.shape[0], -1)
    shape = (mask.shape[0],) + (1,) * (mask.ndim - 1)
    low, high = flat.min(dim=1).values.reshape(shape), flat.max(dim=1).values.reshape(shape)
    return (mask - low) / (high - low + 1e-7)


def pooled(mask: torch.Tensor, patch: int) -> torch.Tensor:
    """The mean over patch x patch blocks of the last two dims, broadcast back to every pixel of the block."""
    height, width = mask.shape[-2:]
    if height % patch or width % patch:
        raise ValueError(f"mask_patch: the latent's height and width ({height}, {width}) must be multiples of {patch}")
    means = F.avg_pool2d(mask.reshape(-1, 1, height, width), patch)
    return means.repeat_interleave(patch, -2).repeat_interleave(patch, -1).reshape(mask.shape)


def uni_edit_step(v_src: torch.Tensor, v_tar: torch.Tensor, x: torch.Tensor, dt: float, omega: float,
                  mask: str = "signed", mask_patch: int = 1) -> torch.Tensor:
    """One Uni-Edit Euler step with region-adaptive guidance and velocity fusion (dt = sigma_next - sigma)."""
    g = v_tar - v_src
    m = velocity_mask(g, mask, mask_patch)
    return x + dt * (omega * (1 + m) * g + m * v_tar + (1 - m) * v_src)


def uniedit(v_src: Velocity, v_tar: Velocity, x_src: torch.Tensor, sigmas: torch.Tensor, omega: float = 5.0,
            alpha: float = 0.6, mask: str = "signed", mask_patch: int = 1, callback: Callback = None,
            v_inv: Velocity | None = None) -> torch.Tensor:
    """UniEdit-Flow (arXiv 2504.13109): Uni-Inv of x_src with v_inv (default v_src) up to sigma_{T-K}, then Uni-Edit
    down to sigmas[-1], K = floor(alpha T). Model calls: K + 1 for the inversion (the one at sigma 0 is free for
    exact flows) and 2K for the edit. Callback steps: inversion 0..K-1, edit 2T-K..2T-1."""
    values = decreasing_sigmas(sigmas)
    steps = len(values) - 1
    check_uniedit_options(omega, alpha, steps, mask, mask_patch)
    used = uniedit_steps(alpha, steps)
    start = steps - used
    x = uni_inversion(v_inv or v_src, compute(x_src), values[::-1][:used + 1], callback)
    for j, i in enumerate(range(start, steps)):
        sigma, sigma_next = values[i], values[i + 1]
        vs, vt = v_src(x, sigma), v_tar(x, sigma)
        report(callback, 2 * steps - used + j, x, x - sigma * vt, sigma)
        x = uni_edit_step(vs, vt, x, sigma_next - sigma, omega, mask, mask_patch)
    return x
