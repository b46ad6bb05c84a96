"""RAAG: ratio-aware adaptive guidance (arXiv 2508.03442)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .common import CFGTerms, cfg_terms, per_sample_norm
from .validation import check_pair, check_real, validate_weight


class RAAGResult(NamedTuple):
    terms: CFGTerms   # (v_c, v_u, w_eff)
    ratio: Tensor     # [B] r = |v_c - v_u| / |v_u|

    @property
    def v(self) -> Tensor:
        return self.terms.v

    @property
    def weight(self) -> Tensor:
        """[B] w_eff."""
        return self.terms.w


@dataclass(frozen=True)
class RAAG:
    """RAAG parameters, checked when built. Defaults are the SD3.5 setting (w_max 18, alpha 12); Qwen-Image uses
    w_max 10, alpha 8. |v_u| is clamped to >= eps."""
    w_max: float = 18.0
    alpha: float = 12.0
    eps: float = 1e-8

    def __post_init__(self):
        validate_weight(self.w_max, "w_max")
        check_real("alpha", self.alpha, 0.0)
        check_real("eps", self.eps, 0.0, lo_open=True)

    def guide(self, v_cond: Tensor, v_uncond: Tensor) -> RAAGResult:
        """r = |v_c - v_u| / |v_u| (L2 per sample, not squared), w = 1 + (w_max - 1) exp(-alpha r),
        v = v_u + w (v_c - v_u). The ratio is scale invariant."""
        terms = cfg_terms(v_cond, v_uncond, self.w_max)
        ratio = per_sample_norm(terms.difference) / per_sample_norm(v_uncond).clamp_min(self.eps)
        weight = 1 + (self.w_max - 1) * torch.exp(-self.alpha * ratio)
        return RAAGResult(terms._replace(w=weight), ratio)


def raag(v_cond: Tensor, v_uncond: Tensor, *, w_max: float = 18.0, alpha: float = 12.0,
         eps: float = 1e-8) -> RAAGResult:
    """RAAG (arXiv 2508.03442) with its parameters checked: see RAAG.guide."""
    check_pair(v_cond, v_uncond)
    return RAAG(w_max, alpha, eps).guide(v_cond, v_uncond)
