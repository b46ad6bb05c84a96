"""CFG-MP / CFG-MP+: manifold projection before the CFG step, Anderson-accelerated for MP+ (arXiv 2601.21892)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from .common import VelocityFn, cfg, flat
from .validation import check_int, check_real, scalar_sigma, validate_weight


def anderson_mix(xs: list[Tensor], residuals: list[Tensor], *, damping: float = 1.0, ridge: float = 1e-4) -> Tensor:
    """Anderson acceleration AA(m) step (type II, as in the CFG-MP code, arXiv 2601.21892): with residuals
    f_i = g(x_i) - x_i, alpha = argmin |sum alpha_i f_i|^2 + ridge^2 |gamma|^2 s.t. sum alpha_i = 1,
    x' = (1 - damping) sum alpha_i x_i + damping sum alpha_i g(x_i). One entry: x' = x + damping f."""
    if len(xs) != len(residuals) or not xs:
        raise ValueError(f"xs and residuals must be non-empty lists of equal length, "
                         f"got {len(xs)} and {len(residuals)}")
    x_last, f_last = xs[-1], residuals[-1]
    if len(xs) == 1:
        return x_last + damping * f_last
    dtype = torch.float64 if x_last.dtype == torch.float64 else torch.float32
    batch, m = x_last.shape[0], len(xs) - 1
    x_hist = torch.stack([flat(t).to(dtype) for t in xs], dim=1)           # [B, m+1, D]
    f_hist = torch.stack([flat(t).to(dtype) for t in residuals], dim=1)
    y = (f_hist[:, -1:] - f_hist[:, :-1]).transpose(1, 2)                 # [B, D, m]
    target = f_hist[:, -1:].transpose(1, 2)                                 # [B, D, 1]
    if ridge > 0:
        eye = ridge * torch.eye(m, dtype=dtype, device=y.device).expand(batch, m, m)
        y = torch.cat([y, eye], dim=1)
        target = torch.cat([target, target.new_zeros(batch, m, 1)], dim=1)
    gamma = torch.linalg.lstsq(y, target).solution.squeeze(-1)               # [B, m]
    alphas = torch.cat([gamma, 1 - gamma.sum(dim=1, keepdim=True)], dim=1)   # [B, m+1]
    x_avg = torch.einsum("bk,bkd->bd", alphas, x_hist)
    g_avg = torch.einsum("bk,bkd->bd", alphas, x_hist + f_hist)
    return ((1 - damping) * x_avg + damping * g_avg).to(x_last.dtype).view_as(x_last)


def cfg_mp_operator(cond_fn: VelocityFn, uncond_fn: VelocityFn, z: Tensor, sigma: float, half_step: float,
                    kind: Literal["G", "H"] = "G") -> Tensor:
    """CFG-MP projection operator (arXiv 2601.21892, official code), h = half_step = (sigma' - sigma) / 2,
    both velocities at sigma: G(z) = z_t + h v_c(z_t), z_t = z - h v_u(z);  H(z) = z_t - h v_u(z_t), z_t = z + h v_c(z).
    Fixed points have a small prediction gap v_c(z_t) = v_u(z)."""
    if kind == "G":
        z_t = z - half_step * uncond_fn(z, sigma)
        return z_t + half_step * cond_fn(z_t, sigma)
    z_t = z + half_step * cond_fn(z, sigma)
    return z_t - half_step * uncond_fn(z_t, sigma)


class MPProjection(NamedTuple):
    z: Tensor
    iterations: int      # fixed-point iterations run (2 model calls each)
    residual: float      # mean |g(z) - z| of the last iteration (nan when none ran)


@dataclass(frozen=True)
class CFGMP:
    """CFG-MP / MP+ parameters, checked when built; defaults follow the official SD3.5 code. anderson_window 0 is
    Picard iteration (CFG-MP), m >= 1 Anderson AA(m) with `damping` (CFG-MP+); the H operator is used for
    sigma >= h_operator_sigma; iterations stop early when mean |g(z) - z| < tol."""
    w: float = 4.0
    switch_sigma: float = 0.6
    iterations: int = 3
    anderson_window: int = 1
    damping: float = 1.0
    ridge: float = 1e-4
    tol: float = 1e-6
    h_operator_sigma: float = 0.95

    def __post_init__(self):
        validate_weight(self.w)
        check_int("iterations", self.iterations)
        check_int("anderson_window", self.anderson_window)
        check_real("damping", self.damping, 0.0, 1.0, lo_open=True)
        check_real("ridge", self.ridge, 0.0)
        check_real("tol", self.tol, 0.0)
        check_real("switch_sigma", self.switch_sigma, 0.0, 1.0)
        check_real("h_operator_sigma", self.h_operator_sigma, 0.0, 1.0)

    def project(self, cond_fn: VelocityFn, uncond_fn: VelocityFn, x: Tensor, sigma: float,
                sigma_next: float) -> MPProjection:
        """Manifold projection: fixed-point iteration z <- G(z) (or H) from z = x."""
        half_step = (sigma_next - sigma) / 2
        kind = "H" if sigma >= self.h_operator_sigma else "G"
        z, xs, fs, residual, done = x, [], [], math.nan, 0
        for done in range(1, self.iterations + 1):
            f = cfg_mp_operator(cond_fn, uncond_fn, z, sigma, half_step, kind) - z
            residual = float(f.abs().mean())
            if self.anderson_window == 0:
                z = z + f
            else:
                keep = self.anderson_window + 1
                xs, fs = (xs + [z])[-keep:], (fs + [f])[-keep:]
                z = anderson_mix(xs, fs, damping=self.damping, ridge=self.ridge)
            if residual < self.tol:
                break
        return MPProjection(z, done, residual)

    def step(self, cond_fn: VelocityFn, uncond_fn: VelocityFn, x: Tensor, sigma: float, sigma_next: float) -> Tensor:
        """Project x to z* (only while sigma > switch_sigma), then the CFG Euler step
        x' = z* + (sigma' - sigma) (v_u + w (v_c - v_u)) at z*."""
        z = x
        if sigma > self.switch_sigma:
            z = self.project(cond_fn, uncond_fn, x, sigma, sigma_next).z
        return z + (sigma_next - sigma) * cfg(cond_fn(z, sigma), uncond_fn(z, sigma), self.w)


def cfg_mp_project(cond_fn: VelocityFn, uncond_fn: VelocityFn, x: Tensor, sigma: float, sigma_next: float, *,
                   iterations: int = 3, anderson_window: int = 1, damping: float = 1.0, ridge: float = 1e-4,
                   tol: float = 1e-6, h_operator_sigma: float = 0.95) -> MPProjection:
    """CFG-MP manifold projection (arXiv 2601.21892) with its parameters and sigmas checked: see CFGMP.project."""
    law = CFGMP(iterations=iterations, anderson_window=anderson_window, damping=damping, ridge=ridge, tol=tol,
                h_operator_sigma=h_operator_sigma)
    return law.project(cond_fn, uncond_fn, x, scalar_sigma(sigma, "sigma"), scalar_sigma(sigma_next, "sigma_next"))


def cfg_mp_step(cond_fn: VelocityFn, uncond_fn: VelocityFn, x: Tensor, sigma: float, sigma_next: float, *,
                w: float, switch_sigma: float = 0.6, iterations: int = 3, anderson_window: int = 1,
                damping: float = 1.0, ridge: float = 1e-4, tol: float = 1e-6, h_operator_sigma: float = 0.95) -> Tensor:
    """CFG-MP / MP+ step (arXiv 2601.21892) with its parameters and sigmas checked: see CFGMP.step."""
    law = CFGMP(w, switch_sigma, iterations, anderson_window, damping, ridge, tol, h_operator_sigma)
    return law.step(cond_fn, uncond_fn, x, scalar_sigma(sigma, "sigma"), scalar_sigma(sigma_next, "sigma_next"))
