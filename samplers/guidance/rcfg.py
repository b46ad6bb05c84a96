"""StreamDiffusion residual CFG: a virtual negative, one model call per step (arXiv 2312.12491)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .common import SigmaLike, cfg, sigma_like, step_key, x0_to_velocity_or
from .memory import RCFGState
from .validation import check_choice, check_pair, check_real, validate_sigma, validate_weight

RCFG_MODES = ("self", "onetime")


def scaled_negative(v_neg: Tensor, x: Tensor, s: Tensor, delta: float) -> Tensor:
    """Velocity of the negative noise delta * eps_neg (eps = x + (1 - sigma) v): delta v + (delta - 1) x / (1 - sigma).
    Where sigma = 1 (eps = x, the scaling has no velocity form) v_neg is kept."""
    if delta == 1.0:
        return v_neg
    one_minus = 1 - s
    safe = torch.where(one_minus > 0, one_minus, torch.ones_like(one_minus))
    return torch.where(one_minus > 0, delta * v_neg + (delta - 1) * x / safe, v_neg)


@dataclass(frozen=True)
class ResidualCFG:
    """Residual-CFG parameters, checked when built. mode "self": the negative x0 is the previous step's guided
    output x0 = x - sigma v; "onetime": x0 = x - sigma v_uncond from the first step, reused for the whole run.
    delta scales the virtual negative noise."""
    w: float = 1.5
    mode: str = "self"
    delta: float = 1.0

    def __post_init__(self):
        validate_weight(self.w)
        check_choice("mode", self.mode, RCFG_MODES)
        check_real("delta", self.delta, 0.0)

    def initial_state(self) -> RCFGState:
        return RCFGState()

    def guide(self, v_cond: Tensor, x: Tensor, sigma: SigmaLike, state: RCFGState, key: float,
              v_uncond: Tensor | None = None, w: float | Tensor | None = None) -> tuple[Tensor, RCFGState]:
        """eq. 7-10 in velocity space. The paper's virtual negative noise eps_n = (x_t - sqrt(a_t) x0_n) / sqrt(b_t)
        becomes, for flows, eps_n = (x - (1 - sigma) x0_n) / sigma, i.e. the negative velocity v_n = (x - x0_n) /
        sigma; the guided eps = delta eps_n + w (eps_c - delta eps_n) is exactly v = v_n' + w (v_c - v_n') with v_n'
        the velocity of delta eps_n. First step (no stored negative): real CFG when v_uncond is given (required for
        "onetime"), else v_c. At sigma = 0 the virtual negative is undefined and v_c is used for it. The negative is
        step memory keyed by `key`; `w` defaults to self.w (not re-checked)."""
        w = self.w if w is None else w
        state = state.enter(key)
        s = sigma_like(sigma, x)
        negative_x0 = state.committed
        if negative_x0 is None:
            if v_uncond is None:
                if self.mode == "onetime":
                    raise ValueError("v_uncond is required on the first step of onetime-negative RCFG")
                v = v_cond
            else:
                v = cfg(v_cond, scaled_negative(v_uncond, x, s, self.delta), w)
            stored = x - s * (v_uncond if self.mode == "onetime" else v)
            return v, state.record(stored)
        v_neg = x0_to_velocity_or(x, s, negative_x0, v_cond)
        v = cfg(v_cond, scaled_negative(v_neg, x, s, self.delta), w)
        return v, (state.record(x - s * v) if self.mode == "self" else state)


def rcfg(v_cond: Tensor, x: Tensor, sigma: SigmaLike, state: RCFGState, *, w: float,
         mode: Literal["self", "onetime"] = "self", delta: float = 1.0, v_uncond: Tensor | None = None,
         step_sigma: float | None = None) -> tuple[Tensor, RCFGState]:
    """StreamDiffusion residual CFG (arXiv 2312.12491 eq. 7-10), 1 NFE per step, parameters checked: see
    ResidualCFG.guide. The negative is keyed by `step_sigma` (default: sigma)."""
    check_pair(v_cond, x, "v_cond", "x")
    law = ResidualCFG(w, mode, delta)
    validate_sigma(sigma)
    if v_uncond is not None:
        check_pair(v_cond, v_uncond)
    return law.guide(v_cond, x, sigma, state, step_key(sigma if step_sigma is None else step_sigma), v_uncond)
