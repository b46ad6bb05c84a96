"""SMC-CFG: sliding-mode control of the guidance error (CFG-Ctrl, arXiv 2603.03281)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from .common import CFGTerms, SigmaLike, flat, step_key, unguided
from .memory import SMCState
from .validation import check_choice, check_int, check_pair, check_real, validate_step, validate_weight

Switching = Literal["sign", "tanh", "sat"]
SWITCHING_VARIANTS = ("sign", "tanh", "sat")


class SMCMemory(NamedTuple):
    error: Tensor          # e' of the step (the controlled guidance error)
    surface_sign: Tensor   # sign(s) of the step, int8, for switching activity


class SMCResult(NamedTuple):
    terms: CFGTerms                # (v_u + e', v_u, w), or the conditional alone during warm-up
    state: SMCState
    surface: Tensor | None         # s of this call (None during warm-up)
    previous_sign: Tensor | None   # sign(s) of the previous step (None on the first active step)

    @property
    def v(self) -> Tensor:
        return self.terms.v


class SwitchingActivity(NamedTuple):
    boundary_fraction: Tensor       # [B] fraction of elements with |s| < phi
    flip_fraction: Tensor | None    # [B] fraction whose sign(s) differs from the previous step


def smc_switch(surface: Tensor, switching: Switching = "sign", phi: float = 0.1) -> Tensor:
    """Switching function: sign(s), tanh(s / phi) or sat(s / phi) = clamp(s / phi, -1, 1) (boundary layer phi)."""
    if switching == "sign":
        return torch.sign(surface)
    if switching == "tanh":
        return torch.tanh(surface / phi)
    return (surface / phi).clamp(-1.0, 1.0)


def switching_activity(surface: Tensor, phi: float, previous_sign: Tensor | None) -> SwitchingActivity:
    """Chattering diagnostics of SMC-CFG for an inspector (from SMCResult.surface / .previous_sign); unchecked."""
    values = flat(surface)
    inside = (values.abs() < phi).to(values.dtype).mean(dim=1)
    flips = None
    if previous_sign is not None:
        flips = (torch.sign(values).to(torch.int8) != flat(previous_sign)).to(values.dtype).mean(dim=1)
    return SwitchingActivity(inside, flips)


@dataclass(frozen=True)
class SMC:
    """SMC-CFG parameters, checked when built. Recommended w: SD3.5 7.5, Flux 2-3, Qwen-Image 4, Wan 5 (lam 5,
    k 0.2 for all); switching "tanh"/"sat" and phi are our smooth variants (the paper uses sign)."""
    w: float = 7.5
    lam: float = 5.0
    k: float = 0.2
    warmup_steps: int = 0
    switching: str = "sign"
    phi: float = 0.1

    def __post_init__(self):
        validate_weight(self.w)
        check_real("lam", self.lam, 0.0)
        check_real("k", self.k, 0.0)
        check_int("warmup_steps", self.warmup_steps)
        check_choice("switching", self.switching, SWITCHING_VARIANTS)
        check_real("phi", self.phi, 0.0, lo_open=self.switching != "sign")

    def initial_state(self) -> SMCState:
        return SMCState()

    def guide(self, v_cond: Tensor, v_uncond: Tensor, key: float, step: int, state: SMCState,
              w: float | Tensor | None = None) -> SMCResult:
        """The official discrete law: e = v_c - v_u; s = (e - e'_prev) + lam e'_prev; e' = e - k sw(s);
        v = v_u + w e'; e'_prev := e' (e'_prev = e on the first active step). Steps `step` < warmup_steps
        return v_c and leave the state alone. `key` identifies the step (its schedule sigma). k is an absolute
        gain: v must be a velocity, not sigma * v. `w` defaults to self.w (a per-call w is not re-checked)."""
        if step < self.warmup_steps:
            return SMCResult(unguided(v_cond), state, None, None)
        w = self.w if w is None else w
        state = state.enter(key)
        error = v_cond - v_uncond
        memory = state.committed
        prev = error if memory is None else memory.error
        surface = (error - prev) + self.lam * prev
        controlled = error - self.k * smc_switch(surface, self.switching, self.phi)
        state = state.record(SMCMemory(controlled, torch.sign(surface).to(torch.int8)))
        terms = CFGTerms(v_uncond + controlled, v_uncond, w, controlled)
        return SMCResult(terms, state, surface, None if memory is None else memory.surface_sign)

    def activity(self, result: SMCResult) -> SwitchingActivity:
        """Switching activity of an active step's result, with this law's boundary layer phi."""
        return switching_activity(result.surface, self.phi, result.previous_sign)


def smc_cfg(v_cond: Tensor, v_uncond: Tensor, sigma: SigmaLike, step: int, state: SMCState, *, w: float,
            lam: float = 5.0, k: float = 0.2, warmup_steps: int = 0, switching: Switching = "sign",
            phi: float = 0.1) -> SMCResult:
    """SMC-CFG (CFG-Ctrl, arXiv 2603.03281) with its parameters checked: see SMC.guide. `sigma` is only the
    step key (pass the step's schedule sigma)."""
    check_pair(v_cond, v_uncond)
    law = SMC(w, lam, k, warmup_steps, switching, phi)
    validate_step(step)
    return law.guide(v_cond, v_uncond, step_key(sigma), step, state)


def smc_switching_activity(surface: Tensor, phi: float = 0.0, previous_sign: Tensor | None = None) -> SwitchingActivity:
    """Chattering diagnostics of SMC-CFG for an inspector, phi checked: see switching_activity."""
    check_real("phi", phi, 0.0)
    return switching_activity(surface, phi, previous_sign)
