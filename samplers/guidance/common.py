"""What every guidance law shares: velocity / x0 / eps conversions, per-sample reductions and the CFG form.

Convention (docs/design.md, section "Time convention"): x_sigma = (1 - sigma) x0 + sigma eps, v = eps - x0,
hence x0 = x - sigma v and eps = x + (1 - sigma) v. Tensors are [B, ...]; every norm, inner product and std is
per sample over all non-batch dims.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import Tensor

SigmaLike = float | Tensor
ModelFn = Callable[[Tensor, float], tuple[Tensor, Tensor]]   # (x, sigma) -> (v_cond, v_uncond)
VelocityFn = Callable[[Tensor, float], Tensor]               # (x, sigma) -> v


def flat(t: Tensor) -> Tensor:
    """[B, ...] -> [B, D]."""
    return t.reshape(t.shape[0], -1)


def per_sample_norm(t: Tensor) -> Tensor:
    """Per-sample L2 norm [B]."""
    return torch.linalg.vector_norm(flat(t), dim=1)


def per_sample_std(t: Tensor) -> Tensor:
    """Per-sample population std [B]."""
    return flat(t).std(dim=1, correction=0)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample inner product [B]."""
    return (flat(a) * flat(b)).sum(dim=1)


def per_sample(values: Tensor | float, like: Tensor) -> Tensor | float:
    """[B] (or scalar) -> broadcastable against `like` [B, ...]."""
    if not isinstance(values, Tensor):
        return values
    if values.numel() == 1:
        return values.reshape(()).to(like)
    return values.reshape(values.shape[0], *([1] * (like.ndim - 1))).to(like)


def step_key(sigma: SigmaLike) -> float:
    """The float that identifies a step (first element of a per-sample sigma)."""
    return float(sigma.reshape(-1)[0]) if isinstance(sigma, Tensor) else float(sigma)


def sigma_like(sigma: SigmaLike, x: Tensor) -> Tensor:
    """sigma (float, scalar or [B]) as a tensor broadcastable against x."""
    return per_sample(torch.as_tensor(sigma, dtype=x.dtype, device=x.device), x)


class CFGTerms(NamedTuple):
    """A guided velocity in CFG form, v = v_uncond + w difference with difference = v_cond - v_uncond as the law
    computed it (so v is bit-exact); w is a float or per-sample [B]. This is what a law hands on: to plain CFG
    (`v`) or to a sampler's own cfg function (v_cond, v_uncond, w). Without v_uncond the velocity is v_cond."""
    v_cond: Tensor
    v_uncond: Tensor | None
    w: float | Tensor
    difference: Tensor | None

    @property
    def v(self) -> Tensor:
        if self.v_uncond is None:
            return self.v_cond
        return self.v_uncond + per_sample(self.w, self.difference) * self.difference


def cfg_terms(v_cond: Tensor, v_uncond: Tensor, w: float | Tensor) -> CFGTerms:
    """Plain CFG's terms (v_cond, v_uncond, w)."""
    return CFGTerms(v_cond, v_uncond, w, v_cond - v_uncond)


def unguided(v_cond: Tensor) -> CFGTerms:
    """The conditional prediction alone (no uncond pass, no guidance)."""
    return CFGTerms(v_cond, None, 1.0, None)


def cfg(v_cond: Tensor, v_uncond: Tensor, w: float | Tensor) -> Tensor:
    """Classifier-free guidance (arXiv 2207.12598 eq. 6) in velocity space: v = v_u + w (v_c - v_u); w float or [B]."""
    return cfg_terms(v_cond, v_uncond, w).v


def velocity_to_x0(x: Tensor, sigma: SigmaLike, v: Tensor) -> Tensor:
    """x0 = x - sigma v (exact under x = (1 - sigma) x0 + sigma eps, v = eps - x0)."""
    return x - per_sample(sigma, x) * v


def x0_to_velocity(x: Tensor, sigma: SigmaLike, x0: Tensor) -> Tensor:
    """v = (x - x0) / sigma; sigma must be > 0."""
    return (x - x0) / per_sample(sigma, x)


def velocity_to_eps(x: Tensor, sigma: SigmaLike, v: Tensor) -> Tensor:
    """eps = x + (1 - sigma) v."""
    return x + (1 - per_sample(sigma, x)) * v


def over_sigma_or(t: Tensor, s: Tensor | float, fallback: Tensor | float) -> Tensor:
    """t / sigma where sigma > 0, `fallback` where sigma == 0."""
    s = torch.as_tensor(s, dtype=t.dtype, device=t.device)
    return torch.where(s > 0, t / torch.where(s > 0, s, torch.ones_like(s)), fallback)


def x0_to_velocity_or(x: Tensor, s: Tensor | float, x0: Tensor, fallback: Tensor) -> Tensor:
    """(x - x0) / sigma where sigma > 0, `fallback` where sigma == 0 (x0 = x there for every v)."""
    return over_sigma_or(x - x0, s, fallback)
