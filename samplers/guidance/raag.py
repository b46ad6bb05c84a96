"""RAAG: ratio-aware adaptive guidance (arXiv 2508.03442)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .common import CFGTerms, cfg_terms, per_sample_norm
from .validation import check_choice, check_pair, check_real, validate_weight

RATIO_SCOPES = ("sample", "batch")   # r per sample (diffusers), or one r over the whole batch (official script)


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
    w_max 10, alpha 8. |v_u| is clamped to >= eps. ratio_over "sample" takes r per sample (as diffusers does);
    "batch" takes one r from the norms over the whole batch, as the official script does (equal for batch 1)."""
    w_max: float = 18.0
    alpha: float = 12.0
    eps: float = 1e-8
    ratio_over: str = "sample"

    def __post_init__(self):
        validate_weight(self.w_max, "w_max")
        check_real("alpha", self.alpha, 0.0)
        check_real("eps", self.eps, 0.0, lo_open=True)
        check_choice("ratio_over", self.ratio_over, RATIO_SCOPES)

    def ratio(self, difference: Tensor, v_uncond: Tensor) -> Tensor:
        """[B] r = |v_c - v_u| / |v_u|, per sample or one value over the batch (repeated per sample)."""
        if self.ratio_over == "batch":
            whole = torch.linalg.vector_norm(difference) / torch.linalg.vector_norm(v_uncond).clamp_min(self.eps)
            return whole.expand(v_uncond.shape[0])
        return per_sample_norm(difference) / per_sample_norm(v_uncond).clamp_min(self.eps)

    def guide(self, v_cond: Tensor, v_uncond: Tensor) -> RAAGResult:
        """r = |v_c - v_u| / |v_u| (L2, not squared; see ratio_over), w = 1 + (w_max - 1) exp(-alpha r),
        v = v_u + w (v_c - v_u). The ratio is scale invariant."""
        terms = cfg_terms(v_cond, v_uncond, self.w_max)
        ratio = self.ratio(terms.difference, v_uncond)
        weight = 1 + (self.w_max - 1) * torch.exp(-self.alpha * ratio)
        return RAAGResult(terms._replace(w=weight), ratio)


def raag(v_cond: Tensor, v_uncond: Tensor, *, w_max: float = 18.0, alpha: float = 12.0,
         eps: float = 1e-8, ratio_over: str = "sample") -> RAAGResult:
    """RAAG (arXiv 2508.03442) with its parameters checked: see RAAG.guide."""
    check_pair(v_cond, v_uncond)
    return RAAG(w_max, alpha, eps, ratio_over).guide(v_cond, v_uncond)
