"""CFG-Zero*: optimised unconditional scale and zeroed first steps (arXiv 2503.18886)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .common import CFGTerms, cfg_terms, dot, per_sample
from .validation import check_int, check_pair, check_real, validate_step, validate_weight


class CFGZeroResult(NamedTuple):
    terms: CFGTerms   # (v_c, s* v_u, w); all zero on zeroed steps
    scale: Tensor     # [B] s*

    @property
    def v(self) -> Tensor:
        return self.terms.v


@dataclass(frozen=True)
class CFGZeroStar:
    """CFG-Zero* parameters, checked when built. zeroed_steps counts the zeroed first steps. The official
    code's `zero_steps` (called zero_init_steps in its README) zeroes steps i <= zero_steps, one more: its 0 is our
    1. optimized_scale=False forces s* = 1 (plain CFG)."""
    w: float = 4.0
    zeroed_steps: int = 1
    optimized_scale: bool = True
    eps: float = 1e-8

    def __post_init__(self):
        validate_weight(self.w)
        check_int("zeroed_steps", self.zeroed_steps)
        check_real("eps", self.eps, 0.0, lo_open=True)

    def zeroed(self, step: int) -> bool:
        """Whether step `step` outputs zero velocity (and needs no uncond pass)."""
        return step < self.zeroed_steps

    def guide(self, v_cond: Tensor, v_uncond: Tensor, step: int, w: float | Tensor | None = None) -> CFGZeroResult:
        """s* = <v_c, v_u> / |v_u|^2 (|v_u|^2 clamped to >= eps), v = s* v_u + w (v_c - s* v_u); v = 0 on zeroed
        steps. `w` defaults to self.w (a per-call w is not re-checked)."""
        w = self.w if w is None else w
        if self.optimized_scale:
            scale = dot(v_cond, v_uncond) / dot(v_uncond, v_uncond).clamp_min(self.eps)
        else:
            scale = v_cond.new_ones(v_cond.shape[0])
        if self.zeroed(step):
            zero = torch.zeros_like(v_cond)
            return CFGZeroResult(CFGTerms(zero, zero, w, zero), scale)
        return CFGZeroResult(cfg_terms(v_cond, per_sample(scale, v_uncond) * v_uncond, w), scale)


def cfg_zero_star(v_cond: Tensor, v_uncond: Tensor, step: int, *, w: float, zeroed_steps: int = 1,
                  optimized_scale: bool = True, eps: float = 1e-8) -> CFGZeroResult:
    """CFG-Zero* (arXiv 2503.18886) with its parameters checked: see CFGZeroStar.guide."""
    check_pair(v_cond, v_uncond)
    law = CFGZeroStar(w, zeroed_steps, optimized_scale, eps)
    validate_step(step)
    return law.guide(v_cond, v_uncond, step)
