"""Guidance laws inside ComfyUI's sampling path: a CFGGuider subclass and chaining MODEL patches.

ComfyUI hands x0 predictions; for a flow (CONST) model x - x0 = sigma v, so every law sees
v = (x - x0) / sigma and hands back x0 = x - sigma v (CONVENTIONS.md §1). Cond and uncond are still
computed by ComfyUI's `sampling_function` / `calc_cond_batch` (areas, masks, hooks, pre/post-cfg functions
all keep working); only the combination is replaced, through a `sampler_cfg_function` that wraps any
function already on the model instead of overwriting it.

Per-run state (SMC memory, APG momentum, RCFG negative) is created in the guider's `outer_sample` or, for
MODEL patches, in an OUTER_SAMPLE wrapper. The step is the sigma's position in
`transformer_options["sample_sigmas"]`, never a call count.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, NamedTuple

import torch
from torch import Tensor

import comfy.patcher_extension
import comfy.samplers

from ..samplers import guidance as g
from .flow_models import is_flow_model

RUNS_KEY = "rectiflow_guidance_runs"      # transformer_options entry: {patch uid: RunState} of the current run
PROBE_KEY = "rectiflow_guidance_probe"    # transformer_options entry: the Guidance Inspector's recorder
WRAPPER_KEY = "rectiflow_guidance"
EDM_INTERVAL = (0.28, 5.42)               # arXiv 2404.07724's SD-XL interval (lo, hi] in EDM sigmas

# ---------------------------------------------------------------------------------------------
# Where a call sits in the run
# ---------------------------------------------------------------------------------------------

class StepPosition(NamedTuple):
    step: int                  # index of the schedule step whose interval holds sigma
    step_sigma: float          # that step's schedule sigma (the key of stepwise state)
    next_sigma: float | None   # the schedule sigma the step goes to (None when unknown)


def schedule_position(sigma: float, sample_sigmas: Tensor | None) -> StepPosition | None:
    """The step of `sigma` in a monotone schedule (a step owns [its sigma, next sigma)); None without a
    multi-step schedule (a one-interval schedule, e.g. adaptive solvers, has no step structure)."""
    if sample_sigmas is None or sample_sigmas.numel() < 3:
        return None
    sigmas = sample_sigmas.detach().float().cpu().tolist()
    tol = 1e-6 * max(1.0, abs(sigma))
    starts = sigmas[:-1]
    if sigmas[0] >= sigmas[-1]:
        passed = sum(1 for s in starts if s >= sigma - tol)
    else:
        passed = sum(1 for s in starts if s <= sigma + tol)
    step = max(passed - 1, 0)
    return StepPosition(step, starts[step], sigmas[step + 1])


class SigmaSteps:
    """Step positions from the run's schedule, or, without one, from the order in which sigmas are first seen."""

    def __init__(self):
        self.seen: list[float] = []

    def position(self, sigma: float, sample_sigmas: Tensor | None) -> StepPosition:
        found = schedule_position(sigma, sample_sigmas)
        if found is not None:
            return found
        if sigma not in self.seen:
            self.seen.append(sigma)
        return StepPosition(self.seen.index(sigma), sigma, None)


class RunState:
    """One sampling run's memory of one law: the law's state and, without a schedule, the sigmas seen."""

    def __init__(self, law: GuidanceLaw):
        self.law = law
        self.restart()

    def restart(self) -> None:
        self.state = self.law.initial_state()
        self.positions = SigmaSteps()
        self.last_step = -1

    def locate(self, sigma: float, sample_sigmas: Tensor | None) -> StepPosition:
        position = self.positions.position(sigma, sample_sigmas)
        if position.step < self.last_step:      # steps only go forward within a run: a new run reuses us
            self.restart()
            position = self.positions.position(sigma, sample_sigmas)
        self.last_step = position.step
        return position


@dataclass(frozen=True)
class GuidanceStep:
    x: Tensor          # float32 [B, ...]
    sigma: Tensor      # float32 [B]
    position: StepPosition

    @property
    def sigma_view(self) -> Tensor:
        """sigma shaped [B, 1, ...] against x."""
        return self.sigma.view(-1, *([1] * (self.x.ndim - 1)))


def guidance_step(x: Tensor, sigma: Tensor, model_options: dict, run: RunState) -> GuidanceStep:
    sigma = torch.as_tensor(sigma).reshape(-1).float().to(x.device)
    if sigma.numel() == 1:
        sigma = sigma.expand(x.shape[0])
    sample_sigmas = model_options.get("transformer_options", {}).get("sample_sigmas")
    return GuidanceStep(x.float(), sigma, run.locate(float(sigma[0]), sample_sigmas))


# ---------------------------------------------------------------------------------------------
# The combination a law hands its result to
# ---------------------------------------------------------------------------------------------

def comfy_scale(w: float | Tensor, like: Tensor) -> float | Tensor:
    """A weight as ComfyUI's `cond_scale`: a float, or [B, 1, ...] when it differs across the batch."""
    if not isinstance(w, Tensor):
        return float(w)
    flat = w.reshape(-1)
    if bool((flat == flat[0]).all()):
        return float(flat[0])
    return flat.view(-1, *([1] * (like.ndim - 1))).to(like)


def batch_weight(w: float | Tensor) -> float | Tensor:
    """ComfyUI's cond_scale (float or [B, 1, ...]) as a law weight (float or [B])."""
    if isinstance(w, Tensor):
        flat = w.reshape(-1).float()
        return float(flat[0]) if flat.numel() == 1 else flat
    return float(w)


class Combination:
    """Plain CFG v_u + w (v_c - v_u), or the `sampler_cfg_function` that was on the model before us."""

    def __init__(self, previous: Callable | None, args: dict, step: GuidanceStep, v_cond: Tensor,
                 v_uncond: Tensor | None):
        self.previous, self.args, self.step = previous, args, step
        self.originals = (v_cond, v_uncond)

    @property
    def plain(self) -> bool:
        return self.previous is None

    def __call__(self, v_cond: Tensor, v_uncond: Tensor, w: float | Tensor) -> Tensor:
        if self.previous is None:
            return g.cfg(v_cond, v_uncond, w)
        x, s = self.args["input"], self.step.sigma_view
        cond = self.args["cond"] if v_cond is self.originals[0] else (s * v_cond).to(x.dtype)
        uncond = self.args["uncond"] if v_uncond is self.originals[1] else (s * v_uncond).to(x.dtype)
        out = self.previous({**self.args, "cond": cond, "uncond": uncond, "cond_denoised": x - cond,
                             "uncond_denoised": x - uncond, "cond_scale": comfy_scale(w, x)})
        return out.float() / s


class LawOutput(NamedTuple):
    v: Tensor
    state: Any
    notes: dict[str, Tensor]   # per-sample diagnostics for the Guidance Inspector


def ones_like_batch(v: Tensor) -> Tensor:
    return v.new_ones(v.shape[0])


# ---------------------------------------------------------------------------------------------
# Laws (adapters over samplers/guidance; each validates its parameters when built)
# ---------------------------------------------------------------------------------------------

class GuidanceLaw:
    """A guidance law as ComfyUI sees it. `combine` gets velocities, the incoming weight w (the guider's w or
    the sampler's cfg) and the combination to hand (v_c, v_u, w) to; `uses_uncond` may skip the uncond pass."""
    name: ClassVar[str] = "law"

    @property
    def weight(self) -> float:
        return self.w

    def initial_state(self) -> Any:
        return None

    def uses_uncond(self, step: GuidanceStep, state: Any) -> bool:
        return True

    def combine(self, v_cond: Tensor, v_uncond: Tensor | None, step: GuidanceStep, w: float | Tensor,
                combination: Combination, state: Any) -> LawOutput:
        raise NotImplementedError


@dataclass(frozen=True)
class RAAGLaw(GuidanceLaw):
    """RAAG (arXiv 2508.03442): w from the ratio |v_c - v_u| / |v_u|; ignores the incoming w."""
    w_max: float = 18.0
    alpha: float = 12.0
    name: ClassVar[str] = "raag"

    def __post_init__(self):
        g.validate_raag(self.w_max, self.alpha)

    @property
    def weight(self) -> float:
        return self.w_max

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        out = g.raag(v_cond, v_uncond, w_max=self.w_max, alpha=self.alpha)
        v = out.v if combination.plain else combination(v_cond, v_uncond, out.weight)
        return LawOutput(v, state, {"ratio": out.ratio, "weight": out.weight})


@dataclass(frozen=True)
class SMCLaw(GuidanceLaw):
    """SMC-CFG (arXiv 2603.03281): sliding-mode control of the guidance error e = v_c - v_u, weight w."""
    w: float = 7.5
    lam: float = 5.0
    k: float = 0.2
    warmup_steps: int = 0
    switching: str = "sign"
    phi: float = 0.1
    name: ClassVar[str] = "smc_cfg"

    def __post_init__(self):
        g.validate_smc(self.w, self.lam, self.k, self.warmup_steps, self.switching, self.phi)

    def initial_state(self) -> g.SMCState:
        return g.SMCState()

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        out = g.smc_cfg(v_cond, v_uncond, step.position.step_sigma, step.position.step, state, w=w, lam=self.lam,
                        k=self.k, warmup_steps=self.warmup_steps, switching=self.switching, phi=self.phi)
        if out.surface is None:                     # warm-up: the conditional prediction
            return LawOutput(v_cond, state, {"weight": ones_like_batch(v_cond)})
        controlled = out.state.latest.error
        v = out.v if combination.plain else combination(v_uncond + controlled, v_uncond, w)
        activity = g.smc_switching_activity(out.surface, self.phi, out.previous_sign)
        notes = {"boundary": activity.boundary_fraction}
        if activity.flip_fraction is not None:
            notes["switching"] = activity.flip_fraction
        return LawOutput(v, out.state, notes)


@dataclass(frozen=True)
class CFGZeroStarLaw(GuidanceLaw):
    """CFG-Zero* (arXiv 2503.18886): optimised uncond scale s*, zeroed first steps."""
    w: float = 4.0
    zero_init_steps: int = 1
    optimized_scale: bool = True
    name: ClassVar[str] = "cfg_zero_star"

    def __post_init__(self):
        g.validate_cfg_zero(self.w, self.zero_init_steps)

    def uses_uncond(self, step, state):
        return step.position.step >= self.zero_init_steps

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        if step.position.step < self.zero_init_steps:
            return LawOutput(torch.zeros_like(v_cond), state, {"weight": v_cond.new_zeros(v_cond.shape[0])})
        out = g.cfg_zero_star(v_cond, v_uncond, step.position.step, w=w, zero_init_steps=self.zero_init_steps,
                              optimized_scale=self.optimized_scale)
        if combination.plain:
            return LawOutput(out.v, state, {"scale": out.scale})
        scaled = out.scale.view(-1, *([1] * (v_uncond.ndim - 1))) * v_uncond
        return LawOutput(combination(v_cond, scaled, w), state, {"scale": out.scale})


@dataclass(frozen=True)
class APGLaw(GuidanceLaw):
    """APG (arXiv 2410.02416): momentum, norm threshold and parallel/orthogonal split on x0."""
    w: float = 4.0
    momentum: float = -0.5
    norm_threshold: float = 0.0
    eta: float = 0.0
    name: ClassVar[str] = "apg"

    def __post_init__(self):
        g.validate_apg(self.w, self.momentum, self.norm_threshold, self.eta)

    def initial_state(self) -> g.APGState:
        return g.APGState()

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        v, state = g.apg(v_cond, v_uncond, step.x, step.sigma, state, w=w, momentum=self.momentum,
                         norm_threshold=self.norm_threshold, eta=self.eta, step_sigma=step.position.step_sigma)
        if combination.plain or w == 1:
            return LawOutput(v, state, {})
        # APG is CFG on (x0_c, x0_c - D''): hand that implied uncond to the model's own combination
        implied_uncond = v_cond - (v - v_cond) / (w - 1)
        return LawOutput(combination(v_cond, implied_uncond, w), state, {})


@dataclass(frozen=True)
class IntervalLaw(GuidanceLaw):
    """Limited-interval guidance (arXiv 2404.07724): w inside [sigma_lo, sigma_hi], conditional outside."""
    w: float = 4.0
    sigma_lo: float = g.edm_sigma_to_flow(EDM_INTERVAL[0])
    sigma_hi: float = g.edm_sigma_to_flow(EDM_INTERVAL[1])
    name: ClassVar[str] = "limited_interval"

    def __post_init__(self):
        g.validate_weight(self.w)
        g.validate_interval(self.sigma_lo, self.sigma_hi)

    def uses_uncond(self, step, state):
        inside = (step.sigma >= self.sigma_lo) & (step.sigma <= self.sigma_hi)
        return bool(inside.any())

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        if v_uncond is None:
            return LawOutput(v_cond, state, {"weight": ones_like_batch(v_cond)})
        inside = (step.sigma >= self.sigma_lo) & (step.sigma <= self.sigma_hi)
        weight = torch.where(inside, torch.as_tensor(w, dtype=v_cond.dtype, device=v_cond.device),
                             torch.ones_like(step.sigma))
        return LawOutput(combination(v_cond, v_uncond, weight), state, {"weight": weight})


@dataclass(frozen=True)
class RescaleLaw(GuidanceLaw):
    """Guidance rescale (arXiv 2305.08891): the guided prediction pulled to the conditional's std."""
    w: float = 4.0
    phi: float = 0.7
    space: str = "v"
    name: ClassVar[str] = "rescale"

    def __post_init__(self):
        g.validate_weight(self.w)
        g.validate_rescale(self.phi, self.space)

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        if combination.plain:
            return LawOutput(g.rescale_cfg(v_cond, v_uncond, w=w, phi=self.phi, space=self.space, x=step.x,
                                           sigma=step.sigma), state, {})
        guided = combination(v_cond, v_uncond, w)
        if self.space == "v":
            return LawOutput(g.std_rescale(guided, v_cond, self.phi), state, {})
        s = step.sigma_view
        x0 = g.std_rescale(step.x - s * guided, step.x - s * v_cond, self.phi)
        return LawOutput((step.x - x0) / s, state, {})


@dataclass(frozen=True)
class ScheduleLaw(GuidanceLaw):
    """Dynamic weight schedules (arXiv 2404.13040): w(sigma) rising as noise falls, mean w over sigma."""
    w: float = 4.0
    shape: str = "linear"
    name: ClassVar[str] = "schedule"

    def __post_init__(self):
        g.validate_schedule(self.w, self.shape)

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        weight = g.scheduled_weight(float(w), step.sigma, self.shape)
        return LawOutput(combination(v_cond, v_uncond, weight), state, {"weight": weight})


@dataclass(frozen=True)
class CFGPPLaw(GuidanceLaw):
    """CFG++ for flows (arXiv 2406.08070): the Euler step renoises with the uncond eps, i.e. CFG with
    w = lam sigma (1 - sigma') / (sigma - sigma'), sigma' the step's next schedule sigma."""
    lam: float = 0.6
    name: ClassVar[str] = "cfgpp"

    def __post_init__(self):
        g.validate_cfgpp(self.lam)

    @property
    def weight(self) -> float:
        return self.lam

    def step_weight(self, step: GuidanceStep) -> float:
        sigma, sigma_next = float(step.sigma[0]), step.position.next_sigma
        if sigma_next is None or sigma_next == sigma:
            return self.lam
        return self.lam * sigma * (1 - sigma_next) / (sigma - sigma_next)

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        weight = self.step_weight(step)
        return LawOutput(combination(v_cond, v_uncond, weight), state, {"weight": ones_like_batch(v_cond) * weight})


@dataclass(frozen=True)
class RCFGLaw(GuidanceLaw):
    """StreamDiffusion residual CFG (arXiv 2312.12491): a virtual negative, 1 model call per step after the
    first. Its result is final: a model's own sampler_cfg_function is not applied."""
    w: float = 1.5
    mode: str = "self"
    delta: float = 1.0
    name: ClassVar[str] = "rcfg"

    def __post_init__(self):
        g.validate_rcfg(self.w, self.mode, self.delta)

    def initial_state(self) -> g.RCFGState:
        return g.RCFGState()

    def uses_uncond(self, step, state):
        return state.enter(step.position.step_sigma).committed is None

    def combine(self, v_cond, v_uncond, step, w, combination, state):
        v, state = g.rcfg(v_cond, step.x, step.sigma, state, w=w, mode=self.mode, delta=self.delta,
                          v_uncond=v_uncond, step_sigma=step.position.step_sigma)
        return LawOutput(v, state, {})


# ---------------------------------------------------------------------------------------------
# The sampler_cfg_function, the GUIDER and the MODEL patch
# ---------------------------------------------------------------------------------------------

def report_notes(args: dict, law: GuidanceLaw, notes: dict[str, Tensor]) -> None:
    probe = args.get("model_options", {}).get("transformer_options", {}).get(PROBE_KEY)
    if probe is not None and notes:
        probe.note(law.name, notes)


def at_sigma_zero(args: dict, previous: Callable | None, has_uncond: bool) -> Tensor:
    """At sigma = 0 no velocity exists (every x0 is x): the plain combination of x - x0."""
    if previous is not None:
        return previous(args)
    if not has_uncond:
        return args["cond"]
    return args["uncond"] + (args["cond"] - args["uncond"]) * args["cond_scale"]


def make_cfg_function(law: GuidanceLaw, step_of: Callable[[dict], tuple[RunState, GuidanceStep]],
                      previous: Callable | None) -> Callable[[dict], Tensor]:
    """A ComfyUI `sampler_cfg_function` applying `law` in velocity space on top of `previous` (or plain CFG);
    `step_of(args)` gives the run's state and this call's GuidanceStep."""
    def cfg_function(args: dict) -> Tensor:
        x, has_uncond = args["input"], args.get("input_uncond") is not None
        if not bool((torch.as_tensor(args["sigma"]) > 0).all()):
            return at_sigma_zero(args, previous, has_uncond)
        run, step = step_of(args)
        s = step.sigma_view
        v_cond = args["cond"].float() / s
        v_uncond = args["uncond"].float() / s if has_uncond else None
        combination = Combination(previous, args, step, v_cond, v_uncond)
        out = law.combine(v_cond, v_uncond, step, batch_weight(args["cond_scale"]), combination, run.state)
        run.state = out.state
        report_notes(args, law, out.notes)
        return (s * out.v).to(x.dtype)
    return cfg_function


class LawGuider(comfy.samplers.CFGGuider):
    """A CFGGuider whose cond/uncond combination is a RectiFlow guidance law in velocity space."""

    def __init__(self, model_patcher, law: GuidanceLaw):
        super().__init__(model_patcher)
        self.law = law
        self.set_cfg(law.weight)
        self.run = RunState(law)

    def outer_sample(self, *args, **kwargs):
        self.run = RunState(self.law)
        return super().outer_sample(*args, **kwargs)

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        step = guidance_step(x, timestep, model_options, self.run)
        negative = self.conds.get("negative") if self.law.uses_uncond(step, self.run.state) else None
        previous = model_options.get("sampler_cfg_function")
        cfg_function = make_cfg_function(self.law, lambda _: (self.run, step), previous)
        options = {**model_options, "sampler_cfg_function": cfg_function, "disable_cfg1_optimization": True}
        return comfy.samplers.sampling_function(self.inner_model, x, timestep, negative, self.conds.get("positive"),
                                                self.cfg, model_options=options, seed=seed)


def require_flow_model(model) -> None:
    """The laws act on flow velocities: refuse models whose x - x0 is not sigma v."""
    if not is_flow_model(model):
        raise ValueError(f"model: RectiFlow guidance needs a flow (CONST) model such as SD3, Flux or the digits "
                         f"model, got model sampling {type(model.get_model_object('model_sampling')).__name__}")


def law_guider(model, positive, negative, law: GuidanceLaw) -> LawGuider:
    require_flow_model(model)
    guider = LawGuider(model, law)
    guider.set_conds(positive, negative)
    return guider


def patch_model(model, law: GuidanceLaw):
    """A clone of `model` whose sampler_cfg_function applies `law` on top of the one already there.

    The law's state lives in the run's transformer_options, created by an OUTER_SAMPLE wrapper per run."""
    require_flow_model(model)
    uid = f"{law.name}:{uuid.uuid4().hex}"
    fallback = RunState(law)

    def step_of(args: dict) -> tuple[RunState, GuidanceStep]:
        options = args.get("model_options", {})
        run = options.get("transformer_options", {}).get(RUNS_KEY, {}).get(uid, fallback)
        return run, guidance_step(args["input"], args["sigma"], options, run)

    def start_run(executor, *args, **kwargs):
        options = executor.class_obj.model_options.setdefault("transformer_options", {})
        options[RUNS_KEY] = {**options.get(RUNS_KEY, {}), uid: RunState(law)}
        return executor(*args, **kwargs)

    patched = model.clone()
    previous = patched.model_options.get("sampler_cfg_function")
    patched.set_model_sampler_cfg_function(make_cfg_function(law, step_of, previous), disable_cfg1_optimization=True)
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, WRAPPER_KEY, start_run)
    return patched


# ---------------------------------------------------------------------------------------------
# Step guiders: laws that are a whole step with model calls at other points (Rectified-CFG++, CFG-MP)
# ---------------------------------------------------------------------------------------------

StepFn = Callable[..., Tensor]   # (pair_fn, cond_fn, uncond_fn, x, sigma, sigma_next) -> x_next


class StepGuider(comfy.samplers.CFGGuider):
    """A CFGGuider for laws that are whole steps: it returns the x0 whose Euler step to the schedule's next sigma
    lands where the law's step lands (exact with Euler samplers). Extra model calls go through ComfyUI's
    calc_cond_batch (areas, masks, model patches); pre/post-cfg functions are not applied. Without a
    multi-step schedule, or at sigma 0, it is plain CFG at its weight."""

    def __init__(self, model_patcher, step: StepFn, weight: float):
        super().__init__(model_patcher)
        self.step = step
        self.set_cfg(weight)

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        sigma = float(torch.as_tensor(timestep).reshape(-1)[0])
        position = schedule_position(sigma, model_options.get("transformer_options", {}).get("sample_sigmas"))
        if position is None or sigma <= 0 or position.next_sigma in (None, sigma):
            return super().predict_noise(x, timestep, model_options, seed)
        x32 = x.float()
        x_next = self.step(*self.velocity_fns(timestep, model_options), x32, sigma, position.next_sigma)
        v = (x_next - x32) / (position.next_sigma - sigma)
        return (x32 - sigma * v).to(x.dtype)

    def velocity_fns(self, timestep: Tensor, model_options: dict) -> tuple[Callable, Callable, Callable]:
        positive, negative = self.conds.get("positive"), self.conds.get("negative")

        def velocities(conds: list, y: Tensor, s: float) -> list[Tensor]:
            outs = comfy.samplers.calc_cond_batch(self.inner_model, conds, y, torch.full_like(timestep, s),
                                                  model_options)
            return [(y - out.float()) / s for out in outs]
        return (lambda y, s: tuple(velocities([positive, negative], y, s)),
                lambda y, s: velocities([positive], y, s)[0],
                lambda y, s: velocities([negative], y, s)[0])


def rectified_cfgpp(w: float, predictor_fraction: float) -> StepFn:
    g.validate_rectified_cfgpp(w, predictor_fraction)

    def step(pair_fn, cond_fn, uncond_fn, x, sigma, sigma_next):
        return g.rectified_cfgpp_step(pair_fn, x, sigma, sigma_next, w=w, predictor_fraction=predictor_fraction,
                                      cond_fn=cond_fn)
    return step


def cfg_mp(w: float, switch_sigma: float, iterations: int, anderson_window: int, damping: float) -> StepFn:
    g.validate_weight(w)
    g.validate_cfg_mp(iterations, anderson_window, damping, 1e-4, 1e-6, switch_sigma, 0.95)

    def step(pair_fn, cond_fn, uncond_fn, x, sigma, sigma_next):
        return g.cfg_mp_step(cond_fn, uncond_fn, x, sigma, sigma_next, w=w, switch_sigma=switch_sigma,
                             iterations=iterations, anderson_window=anderson_window, damping=damping)
    return step


def step_guider(model, positive, negative, step: StepFn, weight: float) -> StepGuider:
    require_flow_model(model)
    guider = StepGuider(model, step, weight)
    guider.set_conds(positive, negative)
    return guider
