"""Guidance Inspector: a recorder fed by a post-cfg function, wrapped around any guider, with a report and plot."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from PIL import Image
from torch import Tensor

import comfy.model_patcher

from ..samplers.guidance import per_sample_norm, per_sample_std
from .guidance_patches import check_guided
from .guidance_runs import PROBE_KEY, SigmaSteps, StepPosition
from .plots import line_panel, to_image_tensor

NAN = float("nan")
INSPECTOR_NAME = "RectiFlow Guidance Inspector"


@dataclass
class CallRecord:
    step: int
    sigma: float
    ratio: float          # r = |v_c - v_u| / |v_u|
    error_norm: float     # |e| = |v_c - v_u|
    weight: float         # effective w: least-squares fit of the applied guidance v - v_u to w e over the batch
    switching: float      # SMC-CFG: share of elements whose sign(s) flipped since the previous step
    std_ratio: float      # std(x0 guided) / std(x0 cond): > 1 is saturation / overshoot


def batch_mean(t: Tensor | None) -> float:
    if t is None:
        return NAN
    t = t.float()
    finite = t[torch.isfinite(t)]
    return float(finite.mean()) if finite.numel() else NAN


def least_squares_weight(guidance: Tensor, error: Tensor) -> float:
    """The w with guidance ~ w e over the whole batch, <g, e> / |e|^2 (robust where one sample has e ~ 0)."""
    energy = float(error.square().sum())
    return float((guidance * error).sum()) / energy if energy > 0 else NAN


def measure_call(args: dict, notes: dict[str, float], position: StepPosition) -> CallRecord:
    x = args["input"].float()
    s = torch.as_tensor(args["sigma"], dtype=torch.float32, device=x.device).reshape(-1)
    s = s.expand(x.shape[0]).view(-1, *([1] * (x.ndim - 1)))
    x0, x0_cond = args["denoised"].float(), args["cond_denoised"].float()
    std_ratio = batch_mean(per_sample_std(x0) / per_sample_std(x0_cond).clamp_min(1e-12))
    ratio = error_norm = weight = NAN
    if args.get("uncond") is not None:
        v_cond, v_uncond, v = (x - x0_cond) / s, (x - args["uncond_denoised"].float()) / s, (x - x0) / s
        error = v_cond - v_uncond
        e_norm = per_sample_norm(error)
        ratio = batch_mean(e_norm / per_sample_norm(v_uncond).clamp_min(1e-12))
        error_norm = batch_mean(e_norm)
        weight = least_squares_weight(v - v_uncond, error)
    return CallRecord(position.step, float(s.reshape(-1)[0]), ratio, error_norm, weight,
                      notes.get("switching", NAN), std_ratio)


class GuidanceRecorder:
    """Collects a CallRecord per guided model call; RectiFlow laws add their own notes (switching activity)."""

    def __init__(self):
        self.calls: list[CallRecord] = []
        self.pending: dict[str, float] = {}
        self.positions = SigmaSteps()

    def note(self, law_name: str, notes: dict[str, Tensor]) -> None:
        self.pending.update({k: batch_mean(v) for k, v in notes.items()})

    def post_cfg(self, args: dict) -> Tensor:
        sigma = float(torch.as_tensor(args["sigma"]).reshape(-1)[0])
        step = None
        if sigma > 0:
            sample_sigmas = args.get("model_options", {}).get("transformer_options", {}).get("sample_sigmas")
            position = self.positions.position(sigma, sample_sigmas)
            step = position.step
            self.calls.append(measure_call(args, self.pending, position))
        self.pending = {}
        check_guided(args["denoised"], INSPECTOR_NAME, sigma, step)   # any guider, any sampler
        return args["denoised"]

    def steps(self) -> list[CallRecord]:
        """One record per step: the mean over that step's calls (NaN-aware)."""
        by_step: dict[int, list[CallRecord]] = {}
        for call in self.calls:
            by_step.setdefault(call.step, []).append(call)
        return [mean_record(calls) for _, calls in sorted(by_step.items())]


def mean_record(calls: list[CallRecord]) -> CallRecord:
    def mean(name: str) -> float:
        values = [getattr(c, name) for c in calls if math.isfinite(getattr(c, name))]
        return sum(values) / len(values) if values else NAN
    return CallRecord(calls[0].step, calls[0].sigma, mean("ratio"), mean("error_norm"), mean("weight"),
                      mean("switching"), mean("std_ratio"))


class InspectedGuider:
    """Wraps any guider: its sampling runs with a post-cfg recorder added to (a copy of) its model options."""

    def __init__(self, guider, recorder: GuidanceRecorder):
        self.guider, self.recorder = guider, recorder

    def __getattr__(self, name: str):
        guider = self.__dict__.get("guider")
        if guider is None:
            raise AttributeError(name)
        return getattr(guider, name)

    def sample(self, *args, **kwargs):
        original = getattr(self.guider, "model_options", None)
        if original is None:
            return self.guider.sample(*args, **kwargs)
        probed = comfy.model_patcher.create_model_options_clone(original)
        comfy.model_patcher.set_model_options_post_cfg_function(probed, self.recorder.post_cfg)
        probed.setdefault("transformer_options", {})[PROBE_KEY] = self.recorder
        self.guider.model_options = probed
        try:
            return self.guider.sample(*args, **kwargs)
        finally:
            self.guider.model_options = original


REPORT_COLUMNS = (("step", "step", "{:d}"), ("sigma", "sigma", "{:.4f}"), ("r", "ratio", "{:.4g}"),
                  (r"\|e\|", "error_norm", "{:.4g}"), ("w_eff", "weight", "{:.4g}"),
                  ("switching", "switching", "{:.3f}"), ("x0_std_ratio", "std_ratio", "{:.4f}"))


def format_cell(fmt: str, value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    return fmt.format(value)


def markdown_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def inspector_report(steps: list[CallRecord], calls: int) -> str:
    """The per-step numbers as a Markdown table (ComfyUI's Preview Any renders Markdown; |e| is escaped)."""
    if not steps:
        return "Guidance Inspector: no guided model call was observed (the guider bypasses post-cfg functions)."
    lines = [f"Guidance Inspector: {len(steps)} steps, {calls} guided model calls", "",
             markdown_row(name for name, _, _ in REPORT_COLUMNS), markdown_row("---:" for _ in REPORT_COLUMNS)]
    for record in steps:
        lines.append(markdown_row(format_cell(fmt, getattr(record, attr)) for _, attr, fmt in REPORT_COLUMNS))
    return "\n".join(lines)


PLOT_PANELS = (("r = |v_c - v_u| / |v_u|", "ratio"), ("|e| = |v_c - v_u|", "error_norm"), ("effective w", "weight"),
               ("switching activity (sign flips)", "switching"), ("x0 std ratio (guided / cond)", "std_ratio"),
               ("sigma", "sigma"))


def record_panel(title: str, steps: list[CallRecord], attr: str) -> Image.Image:
    """One panel of a per-step series, skipping steps without a value."""
    points = [(float(r.step), getattr(r, attr)) for r in steps if math.isfinite(getattr(r, attr))]
    if not points:
        return line_panel(f"{title}: no data", [0.0, 1.0], {}, x_label="step")
    xs, ys = zip(*points)
    return line_panel(title, list(xs), {attr: list(ys)}, x_label="step")


def inspector_plot(steps: list[CallRecord]) -> Tensor:
    """2 x 3 grid of per-step panels as an IMAGE [1, H, W, 3]."""
    return to_image_tensor([record_panel(title, steps, attr) for title, attr in PLOT_PANELS], columns=3)
