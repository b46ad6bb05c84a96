"""APG: adaptive projected guidance on the x0 prediction (arXiv 2410.02416)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .common import CFGTerms, SigmaLike, dot, over_sigma_or, per_sample, per_sample_norm, sigma_like, step_key
from .memory import APGState
from .validation import check_pair, check_real, validate_sigma, validate_weight


def project(a: Tensor, onto: Tensor) -> tuple[Tensor, Tensor]:
    """(parallel, orthogonal) parts of `a` relative to `onto`, per sample (parallel = 0 where onto = 0)."""
    coef = dot(a, onto) / dot(onto, onto).clamp_min(torch.finfo(onto.dtype).tiny)
    parallel = per_sample(coef, onto) * onto
    return parallel, a - parallel


@dataclass(frozen=True)
class APG:
    """APG parameters, checked when built. norm_threshold r = 0 or inf disables the rescale (the paper tunes r per
    model and resolution, so there is no single default)."""
    w: float = 4.0
    momentum: float = -0.5
    norm_threshold: float = 0.0
    eta: float = 0.0

    def __post_init__(self):
        validate_weight(self.w)
        check_real("momentum", self.momentum, -1.0, 1.0, lo_open=True, hi_open=True)
        check_real("norm_threshold", self.norm_threshold, 0.0, allow_inf=True)
        check_real("eta", self.eta)

    def initial_state(self) -> APGState:
        return APGState()

    def guide(self, v_cond: Tensor, v_uncond: Tensor, x: Tensor, sigma: SigmaLike, state: APGState, key: float,
              w: float | Tensor | None = None) -> tuple[CFGTerms, APGState]:
        """Alg. 1 on x0 = x - sigma v: D = (x0_c - x0_u) + momentum D_prev; D' = D min(1, r / |D|);
        x0 = x0_c + (w - 1) G with G = D'_orth + eta D'_par relative to x0_c. That is CFG on (x0_c, x0_c - G),
        returned as velocity terms (v_c, v_c + G / sigma, w); at sigma = 0 all x0 equal x and v = v_c.
        The momentum average is step memory keyed by `key`; `w` defaults to self.w (not re-checked)."""
        w = self.w if w is None else w
        state = state.enter(key)
        s = sigma_like(sigma, x)
        x0_cond, x0_uncond = x - s * v_cond, x - s * v_uncond
        running = x0_cond - x0_uncond
        if state.committed is not None:
            running = running + self.momentum * state.committed
        diff = running
        if 0 < self.norm_threshold < math.inf:
            diff_norm = per_sample_norm(diff).clamp_min(torch.finfo(diff.dtype).tiny)
            diff = diff * per_sample((self.norm_threshold / diff_norm).clamp(max=1.0), diff)
        parallel, orthogonal = project(diff, x0_cond)
        guidance = orthogonal + self.eta * parallel
        difference = over_sigma_or(-guidance, s, 0.0)
        return CFGTerms(v_cond, v_cond - difference, w, difference), state.record(running)


def apg(v_cond: Tensor, v_uncond: Tensor, x: Tensor, sigma: SigmaLike, state: APGState, *, w: float,
        momentum: float = -0.5, norm_threshold: float = 0.0, eta: float = 0.0,
        step_sigma: float | None = None) -> tuple[Tensor, APGState]:
    """APG (arXiv 2410.02416, Alg. 1) with its parameters checked, velocity in and out: see APG.guide.
    The momentum is keyed by `step_sigma` (default: sigma)."""
    check_pair(v_cond, v_uncond)
    check_pair(v_cond, x, "v_cond", "x")
    law = APG(w, momentum, norm_threshold, eta)
    validate_sigma(sigma)
    terms, state = law.guide(v_cond, v_uncond, x, sigma, state, step_key(sigma if step_sigma is None else step_sigma))
    return terms.v, state
