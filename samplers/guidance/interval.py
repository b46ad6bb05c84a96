"""Limited-interval guidance: guidance only in a sigma interval (arXiv 2404.07724)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .common import SigmaLike, cfg
from .validation import check_pair, check_real, validate_sigma, validate_weight

EDM_INTERVAL = (0.28, 5.42)   # the paper's SD-XL interval (lo, hi] in EDM sigmas


def edm_sigma_to_flow(sigma_edm: float) -> float:
    """EDM noise level -> flow sigma: x / (1 - sigma) = x0 + sigma_edm eps, so sigma = sigma_edm / (1 + sigma_edm)."""
    check_real("sigma_edm", sigma_edm, 0.0, allow_inf=True)
    return 1.0 if sigma_edm == math.inf else sigma_edm / (1 + sigma_edm)


@dataclass(frozen=True)
class LimitedInterval:
    """Limited-interval parameters, checked when built: weight w for sigma_lo < sigma <= sigma_hi (the paper's
    half-open interval), 1 (conditional) outside. Defaults are the paper's SD-XL interval (lo, hi] in EDM sigmas,
    converted with edm_sigma_to_flow (monotone, so the interval stays half-open)."""
    w: float = 4.0
    sigma_lo: float = edm_sigma_to_flow(EDM_INTERVAL[0])
    sigma_hi: float = edm_sigma_to_flow(EDM_INTERVAL[1])

    def __post_init__(self):
        validate_weight(self.w)
        check_real("sigma_lo", self.sigma_lo, 0.0, 1.0)
        check_real("sigma_hi", self.sigma_hi, 0.0, 1.0)
        if self.sigma_lo > self.sigma_hi:
            raise ValueError(f"sigma_lo must be <= sigma_hi, got sigma_lo={ascii(self.sigma_lo)} > "
                             f"sigma_hi={ascii(self.sigma_hi)}")

    def inside(self, sigma: SigmaLike) -> bool | Tensor:
        """Whether sigma (float, or a bool tensor per element of a sigma tensor) is in the guided interval."""
        if isinstance(sigma, Tensor):
            return (sigma > self.sigma_lo) & (sigma <= self.sigma_hi)
        return self.sigma_lo < sigma <= self.sigma_hi

    def weight_at(self, sigma: SigmaLike, w: float | Tensor | None = None) -> float | Tensor:
        """eq. 2: w inside the interval, 1 outside; per-sample for a sigma tensor. `w` defaults to self.w."""
        w = self.w if w is None else w
        inside = self.inside(sigma)
        if isinstance(inside, Tensor):
            return torch.where(inside, torch.as_tensor(w, dtype=sigma.dtype, device=sigma.device),
                               torch.ones_like(sigma))
        return w if inside else 1.0


def interval_weight(w: float, sigma: SigmaLike, sigma_lo: float, sigma_hi: float) -> float | Tensor:
    """Limited-interval guidance weight (arXiv 2404.07724 eq. 2), parameters checked: see LimitedInterval.weight_at."""
    law = LimitedInterval(w, sigma_lo, sigma_hi)
    validate_sigma(sigma)
    return law.weight_at(sigma)


def limited_interval_cfg(v_cond: Tensor, v_uncond: Tensor, sigma: SigmaLike, *, w: float, sigma_lo: float,
                         sigma_hi: float) -> Tensor:
    """CFG with the limited-interval weight (arXiv 2404.07724); per-sample sigma allowed."""
    check_pair(v_cond, v_uncond)
    return cfg(v_cond, v_uncond, interval_weight(w, sigma, sigma_lo, sigma_hi))
