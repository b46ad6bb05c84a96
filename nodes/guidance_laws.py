"""The guidance laws as ComfyUI's sampling path sees them: each is its pure law (samplers/guidance, parameters
checked once when built) plus what a guider or MODEL patch needs: its name, the cfg a guider reports, whether a
call needs the uncond pass, and `combine`, which hands the law's CFGTerms to the combination in use (plain CFG
or the model's own sampler_cfg_function). No formula lives here.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar, NamedTuple

import torch
from torch import Tensor

from ..samplers import guidance as g
from .guidance_runs import GuidanceStep

Combine = Callable[[g.CFGTerms], Tensor]       # the combination a law hands its terms to
Notes = Callable[[], dict[str, Tensor]]        # per-sample diagnostics, built only when the Inspector asks


class LawOutput(NamedTuple):
    v: Tensor
    state: Any
    notes: Notes | None = None


def ones_like_batch(v: Tensor) -> Tensor:
    return v.new_ones(v.shape[0])


class GuidanceLaw:
    """Mixed into a pure law dataclass. `combine` gets velocities, the incoming weight w (the guider's w or the
    sampler's cfg, not re-checked) and the combination; `uses_uncond` may skip the uncond pass."""
    name: ClassVar[str] = "law"

    @property
    def guider_cfg(self) -> float:
        """The cfg a LawGuider reports (its weight)."""
        return self.w

    def initial_state(self) -> Any:
        return None

    def uses_uncond(self, step: GuidanceStep, state: Any) -> bool:
        return True

    def combine(self, v_cond: Tensor, v_uncond: Tensor | None, step: GuidanceStep, w: float | Tensor,
                combination: Combine, state: Any) -> LawOutput:
        raise NotImplementedError


class RAAGLaw(g.RAAG, GuidanceLaw):
    """RAAG (arXiv 2508.03442): w from the ratio |v_c - v_u| / |v_u|; ignores the incoming w."""
    name: ClassVar[str] = "raag"

    @property
    def guider_cfg(self) -> float:
        return self.w_max

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        out = self.guide(v_cond, v_uncond)
        return LawOutput(combination(out.terms), state, lambda: {"ratio": out.ratio, "weight": out.weight})


class SMCLaw(g.SMC, GuidanceLaw):
    """SMC-CFG (arXiv 2603.03281): sliding-mode control of the guidance error e = v_c - v_u, weight w."""
    name: ClassVar[str] = "smc_cfg"

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        out = self.guide(v_cond, v_uncond, step.position.step_sigma, step.position.step, state, w)
        if out.surface is None:                     # warm-up: the conditional prediction
            return LawOutput(combination(out.terms), state, lambda: {"weight": ones_like_batch(v_cond)})
        return LawOutput(combination(out.terms), out.state, lambda: self.notes(out))

    def notes(self, out: g.SMCResult) -> dict[str, Tensor]:
        activity = self.activity(out)
        notes = {"boundary": activity.boundary_fraction}
        if activity.flip_fraction is not None:
            notes["switching"] = activity.flip_fraction
        return notes


class CFGZeroStarLaw(g.CFGZeroStar, GuidanceLaw):
    """CFG-Zero* (arXiv 2503.18886): optimised uncond scale s*, zeroed first steps (without an uncond pass)."""
    name: ClassVar[str] = "cfg_zero_star"

    def uses_uncond(self, step, state):
        return not self.zeroed(step.position.step)

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        if self.zeroed(step.position.step):
            return LawOutput(torch.zeros_like(v_cond), state, lambda: {"weight": v_cond.new_zeros(v_cond.shape[0])})
        out = self.guide(v_cond, v_uncond, step.position.step, w)
        return LawOutput(combination(out.terms), state, lambda: {"scale": out.scale})


class APGLaw(g.APG, GuidanceLaw):
    """APG (arXiv 2410.02416): momentum, norm threshold and parallel/orthogonal split on x0, handed on as CFG on
    (x0_c, x0_c - D'')."""
    name: ClassVar[str] = "apg"

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        terms, state = self.guide(v_cond, v_uncond, step.x, step.sigma, state, step.position.step_sigma, w)
        return LawOutput(combination(terms), state)


class IntervalLaw(g.LimitedInterval, GuidanceLaw):
    """Limited-interval guidance (arXiv 2404.07724): w inside [sigma_lo, sigma_hi], conditional outside (where the
    uncond pass is skipped)."""
    name: ClassVar[str] = "limited_interval"

    def uses_uncond(self, step, state):
        return bool(self.inside(step.sigma).any())

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        if v_uncond is None:
            return LawOutput(combination(g.unguided(v_cond)), state, lambda: {"weight": ones_like_batch(v_cond)})
        weight = self.weight_at(step.sigma, w)
        return LawOutput(combination(g.cfg_terms(v_cond, v_uncond, weight)), state, lambda: {"weight": weight})


class RescaleLaw(g.Rescale, GuidanceLaw):
    """Guidance rescale (arXiv 2305.08891): the combined prediction pulled to the conditional's std."""
    name: ClassVar[str] = "rescale"

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        guided = combination(g.cfg_terms(v_cond, v_uncond, w))
        return LawOutput(self.rescale(guided, v_cond, step.x, step.sigma), state)


class ScheduleLaw(g.WeightSchedule, GuidanceLaw):
    """Dynamic weight schedules (arXiv 2404.13040): w(sigma) rising as noise falls, mean w over sigma."""
    name: ClassVar[str] = "schedule"

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        weight = self.weight_at(step.sigma, float(w))
        return LawOutput(combination(g.cfg_terms(v_cond, v_uncond, weight)), state, lambda: {"weight": weight})


class CFGPPLaw(g.CFGPP, GuidanceLaw):
    """CFG++ for flows (arXiv 2406.08070): CFG with the weight whose Euler step is the CFG++ step, sigma' the
    step's next schedule sigma; lam itself where no next sigma is known."""
    name: ClassVar[str] = "cfgpp"

    @property
    def guider_cfg(self) -> float:
        return self.lam

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        sigma, sigma_next = float(step.sigma[0]), step.position.next_sigma
        known = sigma_next is not None and sigma_next != sigma
        weight = self.step_weight(sigma, sigma_next) if known else self.lam
        return LawOutput(combination(g.cfg_terms(v_cond, v_uncond, weight)), state,
                         lambda: {"weight": ones_like_batch(v_cond) * weight})


class RCFGLaw(g.ResidualCFG, GuidanceLaw):
    """StreamDiffusion residual CFG (arXiv 2312.12491): a virtual negative, 1 model call per step after the
    first. Its result is final: a model's own sampler_cfg_function is not applied."""
    name: ClassVar[str] = "rcfg"

    def uses_uncond(self, step, state):
        return state.enter(step.position.step_sigma).committed is None

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        v, state = self.guide(v_cond, step.x, step.sigma, state, step.position.step_sigma, v_uncond, w)
        return LawOutput(v, state)
