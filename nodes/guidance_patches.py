"""A law inside ComfyUI's sampling path: the `sampler_cfg_function` that applies it, chained onto any function
already on the model, and the MODEL patch for KSampler.

ComfyUI hands x0 predictions; for a flow (CONST) model x - x0 = sigma v, so every law sees v = (x - x0) / sigma
and hands back x0 = x - sigma v (docs/design.md, section "Time convention"). Cond and uncond are still computed by
ComfyUI's `sampling_function` / `calc_cond_batch` (areas, masks, hooks, pre/post-cfg functions all keep
working); only the combination is replaced, through a `sampler_cfg_function` that wraps any function already on
the model instead of overwriting it.
"""
from __future__ import annotations

import uuid
from typing import Callable

import torch
from torch import Tensor

import comfy.patcher_extension

from ..samplers import guidance as g
from .errors import check_finite_output
from .flow_models import is_flow_model
from .guidance_laws import GuidanceLaw, LawOutput
from .guidance_runs import PROBE_KEY, RUNS_KEY, GuidanceStep, RunState, guidance_step

WRAPPER_KEY = "rectiflow_guidance"


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
    """Where a law's CFGTerms go: plain CFG, or the `sampler_cfg_function` that was on the model before us (terms
    without an uncond are the conditional prediction, final in both cases)."""

    def __init__(self, previous: Callable | None, args: dict, step: GuidanceStep, v_cond: Tensor,
                 v_uncond: Tensor | None):
        self.previous, self.args, self.step = previous, args, step
        self.originals = (v_cond, v_uncond)

    def __call__(self, terms: g.CFGTerms) -> Tensor:
        if self.previous is None or terms.v_uncond is None:
            return terms.v
        x, s = self.args["input"], self.step.sigma_view
        cond = self.args["cond"] if terms.v_cond is self.originals[0] else (s * terms.v_cond).to(x.dtype)
        uncond = self.args["uncond"] if terms.v_uncond is self.originals[1] else (s * terms.v_uncond).to(x.dtype)
        out = self.previous({**self.args, "cond": cond, "uncond": uncond, "cond_denoised": x - cond,
                             "uncond_denoised": x - uncond, "cond_scale": comfy_scale(terms.w, x)})
        return out.float() / s


def report_notes(args: dict, law: GuidanceLaw, out: LawOutput) -> None:
    """Hands the law's notes to the Guidance Inspector, building them only when one is recording."""
    probe = args.get("model_options", {}).get("transformer_options", {}).get(PROBE_KEY)
    if probe is not None and out.notes is not None:
        probe.note(law.name, out.notes())


def at_sigma_zero(args: dict, previous: Callable | None, has_uncond: bool) -> Tensor:
    """At sigma = 0 no velocity exists (every x0 is x): the plain combination of x - x0."""
    if previous is not None:
        return previous(args)
    if not has_uncond:
        return args["cond"]
    return args["uncond"] + (args["cond"] - args["uncond"]) * args["cond_scale"]


GUIDED_ADVICE = "lower the guidance weight, or check the model and inputs"


def check_guided(out: Tensor, node: str, sigma: float, step: int | None) -> Tensor:
    """Stop the run, naming the guider node, step and sigma, when a guided prediction is not finite (one reduction
    per model call, whatever sampler runs it)."""
    check_finite_output(out, node, sigma, step, "the guided prediction", GUIDED_ADVICE)
    return out


def make_cfg_function(law: GuidanceLaw, step_of: Callable[[dict], tuple[RunState, GuidanceStep]],
                      previous: Callable | None, node: str | None = None) -> Callable[[dict], Tensor]:
    """A ComfyUI `sampler_cfg_function` applying `law` in velocity space on top of `previous` (or plain CFG);
    `step_of(args)` gives the run's state and this call's GuidanceStep. With `node`, a non-finite result stops the
    run naming that node, the step and sigma (one reduction per call)."""
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
        report_notes(args, law, out)
        if node is not None:
            check_guided(out.v, node, float(step.sigma[0]), step.position.step)
        return (s * out.v).to(x.dtype)
    return cfg_function


def require_flow_model(model) -> None:
    """The laws act on flow velocities: refuse models whose x - x0 is not sigma v."""
    if not is_flow_model(model):
        raise ValueError(f"model: RectiFlow guidance needs a flow (CONST) model such as SD3, Flux or the digits "
                         f"model, got model sampling {type(model.get_model_object('model_sampling')).__name__}")


def require_negative(guider, node: str) -> None:
    """A patch's law needs the uncond prediction; a guider without a negative (BasicGuider) has none, and ComfyUI
    would fail inside its own cfg_function with a NoneType error."""
    conds = getattr(guider, "conds", None) or {}
    if conds.get("negative") is None:
        raise ValueError(f"{node}: needs a negative conditioning, and the guider {type(guider).__name__} has none "
                         "(BasicGuider passes only a positive). Sample with KSampler, or CFGGuider with a negative")


def patch_model(model, law: GuidanceLaw, node: str = "RectiFlow patch"):
    """A clone of `model` whose sampler_cfg_function applies `law` on top of the one already there; `node` (the
    node's display name) is named when the guided prediction is not finite.

    The law's state lives in the run's transformer_options, created by an OUTER_SAMPLE wrapper per run."""
    require_flow_model(model)
    uid = f"{law.name}:{uuid.uuid4().hex}"
    fallback = RunState(law)

    def step_of(args: dict) -> tuple[RunState, GuidanceStep]:
        options = args.get("model_options", {})
        run = options.get("transformer_options", {}).get(RUNS_KEY, {}).get(uid, fallback)
        return run, guidance_step(args["input"], args["sigma"], options, run)

    def start_run(executor, *args, **kwargs):
        require_negative(executor.class_obj, node)
        options = executor.class_obj.model_options.setdefault("transformer_options", {})
        options[RUNS_KEY] = {**options.get(RUNS_KEY, {}), uid: RunState(law)}
        return executor(*args, **kwargs)

    patched = model.clone()
    previous = patched.model_options.get("sampler_cfg_function")
    patched.set_model_sampler_cfg_function(make_cfg_function(law, step_of, previous, node),
                                           disable_cfg1_optimization=True)
    patched.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, WRAPPER_KEY, start_run)
    return patched
