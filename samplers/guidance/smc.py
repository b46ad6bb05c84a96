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
GainMode = Literal["relative", "absolute"]
GAIN_MODES = ("relative", "absolute")
RELATIVE_K = 0.5     # relative gain default: K = 0.5 x the per-sample RMS of e (measured on digits and a mixture)
ABSOLUTE_K = 0.2     # the paper's K, in velocity units


class SMCMemory(NamedTuple):
    error: Tensor          # e' of the step (the controlled guidance error)
    surface_sign: Tensor   # sign(s) of the step, int8, for switching activity


class SMCResult(NamedTuple):
    terms: CFGTerms                # (v_u + e', v_u, w), or the conditional alone during warm-up
    state: SMCState
    surface: Tensor | None         # s of this call (None during warm-up)
    previous_sign: Tensor | None   # sign(s) of the previous step (None on the first active step)
    unit: Tensor | float = 1.0     # unit of K and phi in this call (the RMS of e for the relative gain)

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


def error_scale(error: Tensor, gain: GainMode) -> Tensor | float:
    """Unit of K and phi: 1 for the paper's absolute gain; the per-sample RMS of e for the relative gain, so the
    law does not depend on the model's velocity scale (scaling v by c scales e' by c)."""
    if gain == "absolute":
        return 1.0
    rms = flat(error).pow(2).mean(dim=1).sqrt().clamp_min(torch.finfo(error.dtype).tiny)
    return rms.view(-1, *([1] * (error.ndim - 1)))


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
    absolute k 0.2 for all in the paper); switching "tanh"/"sat" and phi are our boundary-layer variants (the paper
    uses sign). gain "relative" (default) measures k and phi in units of the per-sample RMS of e; "absolute" is the
    paper's velocity units, whose right value depends on the model's scale (0.2 chatters on a model whose e is 0.05)."""
    w: float = 7.5
    lam: float = 5.0
    k: float = RELATIVE_K
    warmup_steps: int = 0
    switching: str = "sign"
    phi: float = 0.1
    gain: str = "relative"

    def __post_init__(self):
        validate_weight(self.w)
        check_real("lam", self.lam, 0.0)
        check_real("k", self.k, 0.0)
        check_int("warmup_steps", self.warmup_steps)
        check_choice("switching", self.switching, SWITCHING_VARIANTS)
        check_real("phi", self.phi, 0.0, lo_open=self.switching != "sign")
        check_choice("gain", self.gain, GAIN_MODES)

    def initial_state(self) -> SMCState:
        return SMCState()

    def guide(self, v_cond: Tensor, v_uncond: Tensor, key: float, step: int, state: SMCState,
              w: float | Tensor | None = None) -> SMCResult:
        """The official discrete law: e = v_c - v_u; s = (e - e'_prev) + lam e'_prev; e' = e - k sw(s);
        v = v_u + w e'; e'_prev := e' (e'_prev = e on the first active step). Steps `step` < warmup_steps
        return v_c and leave the state alone. `key` identifies the step (its schedule sigma). With the absolute
        gain K and phi are velocity units (v must be a velocity, not sigma * v); with the relative gain they are
        multiples of the step's per-sample RMS of e. `w` defaults to self.w (a per-call w is not re-checked)."""
        if step < self.warmup_steps:
            return SMCResult(unguided(v_cond), state, None, None)
        w = self.w if w is None else w
        state = state.enter(key)
        error = v_cond - v_uncond
        memory = state.committed
        prev = error if memory is None else memory.error
        surface = (error - prev) + self.lam * prev
        unit = error_scale(error, self.gain)
        controlled = error - self.k * unit * smc_switch(surface / unit, self.switching, self.phi)
        state = state.record(SMCMemory(controlled, torch.sign(surface).to(torch.int8)))
        terms = CFGTerms(v_uncond + controlled, v_uncond, w, controlled)
        return SMCResult(terms, state, surface, None if memory is None else memory.surface_sign, unit)

    def activity(self, result: SMCResult) -> SwitchingActivity:
        """Switching activity of an active step's result, with this law's boundary layer phi (and its unit)."""
        return switching_activity(result.surface / result.unit, self.phi, result.previous_sign)


def smc_cfg(v_cond: Tensor, v_uncond: Tensor, sigma: SigmaLike, step: int, state: SMCState, *, w: float,
            lam: float = 5.0, k: float = RELATIVE_K, warmup_steps: int = 0, switching: Switching = "sign",
            phi: float = 0.1, gain: GainMode = "relative") -> SMCResult:
    """SMC-CFG (CFG-Ctrl, arXiv 2603.03281) with its parameters checked: see SMC.guide. `sigma` is only the
    step key (pass the step's schedule sigma). gain="absolute", k=0.2 is the paper's law."""
    check_pair(v_cond, v_uncond)
    law = SMC(w, lam, k, warmup_steps, switching, phi, gain)
    validate_step(step)
    return law.guide(v_cond, v_uncond, step_key(sigma), step, state)


def smc_switching_activity(surface: Tensor, phi: float = 0.0, previous_sign: Tensor | None = None) -> SwitchingActivity:
    """Chattering diagnostics of SMC-CFG for an inspector, phi checked: see switching_activity."""
    check_real("phi", phi, 0.0)
    return switching_activity(surface, phi, previous_sign)
