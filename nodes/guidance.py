"""Guidance nodes: a GUIDER per law, chaining MODEL patches for KSampler, and the Guidance Inspector.

The laws live in samplers/guidance/ (pure torch); guidance_laws.py adapts them to ComfyUI's sampling path,
guidance_guiders.py and guidance_patches.py hand them to ComfyUI, and guidance_inspector.py records what they do.
"""
from __future__ import annotations

from comfy_api.latest import io

from ..samplers import guidance as g
from .guidance_guiders import cfg_mp_step_fn, law_guider, rectified_cfgpp_step_fn, step_guider
from .guidance_inspector import GuidanceRecorder, InspectedGuider, inspector_plot, inspector_report
from .guidance_laws import (APGLaw, CFGPPLaw, CFGZeroStarLaw, IntervalLaw, RAAGLaw, RCFGLaw, RescaleLaw, ScheduleLaw,
                            SMCLaw)
from .guidance_patches import patch_model
from .validation import RectiFlowNode, check_finite

CATEGORY = "sampling/rectiflow/guidance"
SIGMA_STEP = 0.0001   # the frontend shows a value rounded to its widget step: 4 decimals for flow sigmas


def guider_inputs() -> list:
    return [io.Model.Input("model", tooltip="Flow (CONST) model; hooks and patches already on it keep working."),
            io.Conditioning.Input("positive", tooltip="Conditional prompt (areas and masks are honoured)."),
            io.Conditioning.Input("negative", tooltip="Unconditional / negative prompt.")]


def weight_input(default: float, what: str = "Guidance weight w") -> io.Float.Input:
    return io.Float.Input("w", default=default, min=0.0, max=100.0, step=0.1, round=0.01,
                          tooltip=f"{what} (0 unconditional, 1 conditional, > 1 guided).")


def guider_output() -> io.Guider.Output:
    return io.Guider.Output(tooltip="GUIDER for SamplerCustomAdvanced or the Guidance Inspector.")


class GuiderRAAG(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderRAAG", display_name="RectiFlow Guider RAAG", category=CATEGORY,
            description="Ratio-aware adaptive guidance (arXiv 2508.03442): r = |v_c - v_u| / |v_u| per sample, "
                        "w = 1 + (w_max - 1) exp(-alpha r). Strong guidance where cond and uncond agree, little where "
                        "they already differ, so few-step sampling does not overshoot. SD3.5: w_max 18, alpha 12; "
                        "Qwen-Image: w_max 10, alpha 8.",
            inputs=[*guider_inputs(),
                    io.Float.Input("w_max", default=18.0, min=0.0, max=100.0, step=0.1, round=0.01,
                                   tooltip="Largest weight, reached where r = 0 (SD3.5 18, Qwen-Image 10)."),
                    io.Float.Input("alpha", default=12.0, min=0.0, max=100.0, step=0.1, round=0.01,
                                   tooltip="Decay of w with the ratio r (SD3.5 12, Qwen-Image 8); 0 is CFG at w_max."),
                    ratio_over_input()],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w_max: float, alpha: float,
                ratio_over: str = "sample") -> io.NodeOutput:
        check_finite(w_max=w_max, alpha=alpha)
        law = RAAGLaw(w_max, alpha, ratio_over=ratio_over)
        return io.NodeOutput(law_guider(model, positive, negative, law, cls.node_name()))


def ratio_over_input():
    return io.Combo.Input("ratio_over", options=list(g.RATIO_SCOPES), default="sample", optional=True,
                          tooltip="sample: r and w per sample, so each image in a batch gets its own weight (as "
                                  "diffusers). batch: one r over the whole batch, as the official script does; the "
                                  "two agree for batch size 1.")


def smc_inputs() -> list:
    return [io.Float.Input("lam", default=5.0, min=0.0, max=100.0, step=0.1, round=0.01,
                           tooltip="lambda, slope of the sliding surface s = (e - e_prev) + lambda e_prev (paper 5)."),
            io.Float.Input("k", default=g.RELATIVE_K, min=0.0, max=10.0, step=0.01, round=0.001,
                           tooltip="Switching gain K: e' = e - K sw(s); 0 is plain CFG. In gain 'relative' units "
                                   "(default 0.5: half the RMS of each sample's guidance error e); in 'absolute' "
                                   "units the paper's 0.2."),
            io.Combo.Input("gain", options=list(g.GAIN_MODES), default="relative",
                           tooltip="relative: K and the boundary layer are multiples of the per-sample RMS of e, "
                                   "so one K works on any model and step count. absolute: velocity units as in the "
                                   "paper (K 0.2); the right K then depends on the model (0.2 chatters and "
                                   "overshoots at 10 steps on a model whose e is about 0.05)."),
            io.Int.Input("warmup_steps", default=0, min=0, max=1000,
                         tooltip="First steps that return the conditional prediction and leave the state alone."),
            io.Float.Input("boundary_layer", default=0.0, min=0.0, max=100.0, step=0.01, round=0.001,
                           tooltip="0: sign(s) switching, as the paper. > 0: the boundary layer phi of "
                                   "sliding-mode control, sat(s / phi), which stops chattering (in the gain's "
                                   "units).")]


def smc_law(w: float, lam: float, k: float, gain: str, warmup_steps: int, boundary_layer: float) -> SMCLaw:
    """SMC-CFG with sign switching, or saturation when a boundary layer is given."""
    check_finite(w=w, lam=lam, k=k, boundary_layer=boundary_layer)
    if boundary_layer < 0:
        raise ValueError(f"boundary_layer: expected 0 (sign switching) or a positive width, got {boundary_layer!r}")
    switching = "sat" if boundary_layer > 0 else "sign"
    return SMCLaw(w, lam, k, warmup_steps, switching, boundary_layer, gain)


class GuiderSMCCFG(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderSMCCFG", display_name="RectiFlow Guider SMC-CFG", category=CATEGORY,
            description="Sliding-mode CFG (CFG-Ctrl, arXiv 2603.03281), the official discrete law in velocity space: "
                        "e = v_c - v_u, s = (e - e'_prev) + lambda e'_prev, e' = e - K sign(s), v = v_u + w e'. "
                        "K is relative to the RMS of e by default (scale-free; gain 'absolute' is the paper's K "
                        "0.2). The memory is reset every run and advanced by the sigma's schedule step. "
                        "Recommended w: SD3.5 7.5, Flux 2-3, Qwen-Image 4, Wan 5 (lambda 5).",
            inputs=[*guider_inputs(), weight_input(7.5, "Guidance weight w (SD3.5 7.5, Flux 2-3, Qwen 4, Wan 5)"),
                    *smc_inputs()],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w: float, lam: float, k: float, gain: str, warmup_steps: int,
                boundary_layer: float) -> io.NodeOutput:
        law = smc_law(w, lam, k, gain, warmup_steps, boundary_layer)
        return io.NodeOutput(law_guider(model, positive, negative, law, cls.node_name()))


class GuiderCFGZeroStar(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderCFGZeroStar", display_name="RectiFlow Guider CFG-Zero*", category=CATEGORY,
            description="CFG-Zero* (arXiv 2503.18886) in velocity space: s* = <v_c, v_u> / |v_u|^2 per sample, "
                        "v = s* v_u + w (v_c - s* v_u); the first zeroed_steps output zero velocity (and skip "
                        "the model's uncond pass).",
            inputs=[*guider_inputs(), weight_input(4.0),
                    io.Int.Input("zeroed_steps", default=1, min=0, max=1000,
                                 tooltip="How many first steps output zero velocity (0: none). The official code's "
                                         "zero_steps / zero_init_steps K zeroes K + 1 steps: its 0 is 1 here. "
                                         "Renamed from zero_init_steps so the two cannot be confused."),
                    io.Boolean.Input("optimized_scale", default=True,
                                     tooltip="Use the optimised scale s*; off forces s* = 1 (plain CFG).")],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w: float, zeroed_steps: int,
                optimized_scale: bool) -> io.NodeOutput:
        check_finite(w=w)
        law = CFGZeroStarLaw(w, zeroed_steps, optimized_scale)
        return io.NodeOutput(law_guider(model, positive, negative, law, cls.node_name()))


class GuiderAPG(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderAPG", display_name="RectiFlow Guider APG", category=CATEGORY,
            description="Adaptive projected guidance (arXiv 2410.02416) on x0 = x - sigma v, converted back exactly: "
                        "momentum average of x0_c - x0_u, norm threshold, then only the part orthogonal to x0_c "
                        "(plus eta times the parallel part) is amplified. Defaults are the paper's recommended eta 0 "
                        "and beta -0.5 with the norm threshold off; ComfyUI's own APG node starts from eta 1, r 5, "
                        "beta 0, which is closer to CFG.",
            inputs=[*guider_inputs(), weight_input(4.0),
                    io.Float.Input("momentum", default=-0.5, min=-0.99, max=0.99, step=0.01, round=0.001,
                                   tooltip="Momentum beta of the running difference. Default -0.5, the paper's "
                                           "recommendation (negative momentum); 0 turns momentum off (ComfyUI's "
                                           "APG default)."),
                    io.Float.Input("norm_threshold", default=0.0, min=0.0, max=1000.0, step=0.1, round=0.001,
                                   tooltip="Norm threshold r: clamp |D| to this L2 norm per sample. 0 (default) "
                                           "turns the rescaling off: r is an L2 norm over the whole latent, so the "
                                           "paper tunes it per model and resolution and no one value carries over "
                                           "(ComfyUI's APG node uses 5). Set it when the image still saturates."),
                    io.Float.Input("eta", default=0.0, min=-10.0, max=10.0, step=0.01, round=0.001,
                                   tooltip="Weight of the parallel component: 0 (default) is the paper's choice, "
                                           "which removes the part that saturates; 1 keeps it (ComfyUI's APG "
                                           "default; with momentum 0 and no threshold that is CFG).")],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w: float, momentum: float, norm_threshold: float,
                eta: float) -> io.NodeOutput:
        check_finite(w=w, momentum=momentum, norm_threshold=norm_threshold, eta=eta)
        law = APGLaw(w, momentum, norm_threshold, eta)
        return io.NodeOutput(law_guider(model, positive, negative, law, cls.node_name()))


class GuiderLimitedInterval(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        lo, hi = IntervalLaw.sigma_lo, IntervalLaw.sigma_hi
        return io.Schema(
            node_id="RectiFlowGuiderLimitedInterval", display_name="RectiFlow Guider Limited Interval",
            category=CATEGORY,
            description="Guidance only in a sigma interval (arXiv 2404.07724); outside it the conditional prediction "
                        "is used and the uncond pass is skipped. Defaults are the paper's SD-XL interval (0.28, 5.42] "
                        "in EDM sigmas, converted to flow sigmas s / (1 + s).",
            inputs=[*guider_inputs(), weight_input(4.0),
                    io.Float.Input("sigma_lo", default=round(lo, 4), min=0.0, max=1.0, step=SIGMA_STEP,
                                   round=SIGMA_STEP, tooltip="Lower flow sigma of the guided interval, excluded: a step at exactly sigma_lo is not "
                                           "guided (the paper's interval is (lo, hi])."),
                    io.Float.Input("sigma_hi", default=round(hi, 4), min=0.0, max=1.0, step=SIGMA_STEP,
                                   round=SIGMA_STEP, tooltip="Upper flow sigma of the guided interval, included.")],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w: float, sigma_lo: float, sigma_hi: float) -> io.NodeOutput:
        check_finite(w=w, sigma_lo=sigma_lo, sigma_hi=sigma_hi)
        law = IntervalLaw(w, sigma_lo, sigma_hi)
        return io.NodeOutput(law_guider(model, positive, negative, law, cls.node_name()))


class GuiderRescale(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderRescale", display_name="RectiFlow Guider Rescale", category=CATEGORY,
            description="CFG with guidance rescale (arXiv 2305.08891 eq. 15-16) for flow models: the guided velocity "
                        "(or x0) is pulled towards the conditional one's std by phi.",
            inputs=[*guider_inputs(), weight_input(4.0),
                    io.Float.Input("phi", default=0.7, min=0.0, max=1.0, step=0.01, round=0.001,
                                   tooltip="Rescale strength (the paper's 0.7); 0 is plain CFG."),
                    io.Combo.Input("space", options=list(g.RESCALE_SPACES), default="v",
                                   tooltip="v: rescale the velocity, the flow model's output; x0: rescale x - sigma v.")],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w: float, phi: float, space: str) -> io.NodeOutput:
        check_finite(w=w, phi=phi)
        return io.NodeOutput(law_guider(model, positive, negative, RescaleLaw(w, phi, space), cls.node_name()))


class GuiderSchedule(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderSchedule", display_name="RectiFlow Guider Dynamic Schedule", category=CATEGORY,
            description="Guidance weight rising as noise falls (arXiv 2404.13040): linear 1 + (w - 1) 2 (1 - sigma) "
                        "or cosine 1 + (w - 1)(1 + cos(pi sigma)); both average w over sigma in [0, 1].",
            inputs=[*guider_inputs(), weight_input(4.0, "Mean guidance weight w"),
                    io.Combo.Input("shape", options=list(g.SCHEDULE_SHAPES), default="linear",
                                   tooltip="linear or cosine increasing schedule; constant is plain CFG.")],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w: float, shape: str) -> io.NodeOutput:
        check_finite(w=w)
        return io.NodeOutput(law_guider(model, positive, negative, ScheduleLaw(w, shape), cls.node_name()))


class GuiderCFGPP(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderCFGPP", display_name="RectiFlow Guider CFG++", category=CATEGORY,
            description="CFG++ for flows (arXiv 2406.08070): the step lands on x0 guided by lambda and renoises with "
                        "the unconditional noise; as a velocity that is CFG with w = lambda sigma (1 - sigma') / "
                        "(sigma - sigma'), sigma' read from the schedule. Exact with Euler; other solvers get the "
                        "same per-step weight.",
            inputs=[*guider_inputs(),
                    io.Float.Input("lam", default=0.6, min=0.0, max=1.0, step=0.01, round=0.001,
                                   tooltip="CFG++ lambda in [0, 1] (the paper's range; 0 is unconditional).")],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, lam: float) -> io.NodeOutput:
        check_finite(lam=lam)
        return io.NodeOutput(law_guider(model, positive, negative, CFGPPLaw(lam), cls.node_name()))


class GuiderRCFG(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderRCFG", display_name="RectiFlow Guider Residual CFG", category=CATEGORY,
            description="StreamDiffusion residual CFG (arXiv 2312.12491) for flows: after a real CFG first step the "
                        "negative is virtual, so each later step costs one model call. self: the previous guided x0; "
                        "onetime: the first step's uncond x0, reused.",
            inputs=[*guider_inputs(), weight_input(1.5),
                    io.Combo.Input("mode", options=list(g.RCFG_MODES), default="self",
                                   tooltip="self negative (previous guided x0) or one-time negative (first uncond). "
                                           "self feeds the guided output back as the negative: the guidance error "
                                           "is multiplied by (1 - w) each step, so keep w < 2."),
                    io.Float.Input("delta", default=1.0, min=0.0, max=10.0, step=0.01, round=0.001,
                                   tooltip="Scale of the virtual negative noise (the paper's delta; 1 keeps it).")],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w: float, mode: str, delta: float) -> io.NodeOutput:
        check_finite(w=w, delta=delta)
        return io.NodeOutput(law_guider(model, positive, negative, RCFGLaw(w, mode, delta), cls.node_name()))


class GuiderRectifiedCFGPP(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderRectifiedCFGPP", display_name="RectiFlow Guider Rectified-CFG++",
            category=CATEGORY,
            description="Rectified-CFG++ (arXiv 2510.07631) predictor-corrector: a conditional predictor to "
                        "sigma + f (sigma' - sigma), then v = v_c(x) + w (v_c - v_u) at the predicted point. Returned "
                        "as the velocity whose Euler step lands on the paper's step (exact with Euler samplers); "
                        "3 model passes per step; pre/post-cfg functions are not applied. Unlike the official SD3 "
                        "code, the corrector runs at the predicted sigma and the predicted point gets no 0.005 noise "
                        "(deterministic sampling).",
            inputs=[*guider_inputs(),
                    io.Float.Input("w", default=4.5, min=0.0, max=100.0, step=0.1, round=0.01,
                                   tooltip="Guidance strength at the predicted point: v = v_c + w (v_c' - v_u'), the "
                                           "official true_cfg (its demo's 4.5). Not CFG's w: the CFG-equivalent "
                                           "weight is 1 + w; 0 is the conditional flow."),
                    io.Float.Input("predictor_fraction", default=0.5, min=0.01, max=1.0, step=0.01, round=0.001,
                                   tooltip="Predictor step as a fraction of the step (the paper's half step 0.5; "
                                           "the official SD3 code steps the full interval, 1.0).")],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w: float, predictor_fraction: float) -> io.NodeOutput:
        check_finite(w=w, predictor_fraction=predictor_fraction)
        step = rectified_cfgpp_step_fn(g.RectifiedCFGPP(w, predictor_fraction))
        return io.NodeOutput(step_guider(model, positive, negative, step, 1.0 + w, cls.node_name()))


class GuiderCFGMP(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuiderCFGMP", display_name="RectiFlow Guider CFG-MP", category=CATEGORY,
            description="CFG-MP / CFG-MP+ manifold projection (arXiv 2601.21892): while sigma > switch_sigma, x is "
                        "projected by a fixed-point iteration (Anderson-accelerated for MP+) before the CFG step. "
                        "Returned as the velocity whose Euler step lands on the paper's step (exact with Euler); "
                        "2 model passes per iteration; pre/post-cfg functions are not applied.",
            inputs=[*guider_inputs(), weight_input(4.0),
                    io.Float.Input("switch_sigma", default=0.6, min=0.0, max=1.0, step=0.01, round=0.001,
                                   tooltip="Project only while sigma > switch_sigma (the official code's "
                                           "time_threshold, 0.6 in both its SD3.5 and DiT demos); "
                                           "1 disables the projection (plain CFG)."),
                    io.Int.Input("iterations", default=3, min=0, max=50,
                                 tooltip="Fixed-point iterations per projected step (2 model passes each)."),
                    io.Int.Input("anderson_window", default=1, min=0, max=10,
                                 tooltip="0: plain Picard iteration (CFG-MP); m >= 1: Anderson AA(m) (CFG-MP+)."),
                    io.Float.Input("damping", default=1.0, min=0.01, max=1.0, step=0.01, round=0.001,
                                   tooltip="Anderson mixing damping in (0, 1].")],
            outputs=[guider_output()])

    @classmethod
    def execute(cls, model, positive, negative, w: float, switch_sigma: float, iterations: int,
                anderson_window: int, damping: float) -> io.NodeOutput:
        check_finite(w=w, switch_sigma=switch_sigma, damping=damping)
        step = cfg_mp_step_fn(g.CFGMP(w, switch_sigma, iterations, anderson_window, damping))
        return io.NodeOutput(step_guider(model, positive, negative, step, w, cls.node_name()))


class PatchRAAG(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowPatchRAAG", display_name="RectiFlow Patch RAAG (KSampler)", category=CATEGORY,
            description="RAAG as a MODEL patch for KSampler: the weight comes from w_max and alpha and is handed to "
                        "any sampler_cfg_function already on the model, so patches chain. The KSampler's cfg is "
                        "ignored by the combination, but ComfyUI still hands that cfg (not RAAG's weight) to other "
                        "nodes' hooks as cond_scale: post-cfg functions receive RAAG's guided result with "
                        "cond_scale = the KSampler cfg.",
            inputs=[io.Model.Input("model", tooltip="Model to patch; its own cfg function (if any) stays inside."),
                    io.Float.Input("w_max", default=18.0, min=0.0, max=100.0, step=0.1, round=0.01,
                                   tooltip="Largest weight, reached where r = 0 (SD3.5 18, Qwen-Image 10)."),
                    io.Float.Input("alpha", default=12.0, min=0.0, max=100.0, step=0.1, round=0.01,
                                   tooltip="Decay of w with r = |v_c - v_u| / |v_u| (SD3.5 12, Qwen-Image 8)."),
                    ratio_over_input()],
            outputs=[io.Model.Output(tooltip="The model with RAAG chained onto its guidance.")])

    @classmethod
    def execute(cls, model, w_max: float, alpha: float, ratio_over: str = "sample") -> io.NodeOutput:
        check_finite(w_max=w_max, alpha=alpha)
        return io.NodeOutput(patch_model(model, RAAGLaw(w_max, alpha, ratio_over=ratio_over), cls.node_name()))


class PatchSMCCFG(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowPatchSMCCFG", display_name="RectiFlow Patch SMC-CFG (KSampler)", category=CATEGORY,
            description="SMC-CFG as a MODEL patch for KSampler: w is the sampler's cfg (or the weight of a patch "
                        "applied after this one); the controlled error goes to any sampler_cfg_function already on "
                        "the model, so patches chain. State is reset every run.",
            inputs=[io.Model.Input("model", tooltip="Model to patch; its own cfg function (if any) stays inside."),
                    *smc_inputs()],
            outputs=[io.Model.Output(tooltip="The model with SMC-CFG chained onto its guidance.")])

    @classmethod
    def execute(cls, model, lam: float, k: float, gain: str, warmup_steps: int,
                boundary_layer: float) -> io.NodeOutput:
        law = smc_law(1.0, lam, k, gain, warmup_steps, boundary_layer)
        return io.NodeOutput(patch_model(model, law, cls.node_name()))


class GuidanceInspector(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowGuidanceInspector", display_name="RectiFlow Guidance Inspector", category=CATEGORY,
            description="Samples like SamplerCustomAdvanced with any GUIDER and records every step: r = |v_c - v_u| "
                        "/ |v_u|, |e|, the effective w actually applied, SMC-CFG switching activity and the x0 std "
                        "ratio (> 1 = overshoot). Returns the latent, a plot and the numbers.",
            inputs=[io.Noise.Input("noise", tooltip="Noise source (RandomNoise or DisableNoise)."),
                    io.Guider.Input("guider", tooltip="Any GUIDER: RectiFlow guiders, CFGGuider, PerpNeg, ..."),
                    io.Sampler.Input("sampler", tooltip="Any SAMPLER (RectiFlow or stock)."),
                    io.Sigmas.Input("sigmas", tooltip="The schedule; steps are positions in it."),
                    io.Latent.Input("latent_image", tooltip="Latent to start from.")],
            outputs=[io.Latent.Output(display_name="output"), io.Image.Output(display_name="plot"),
                     io.String.Output(display_name="report")])

    @classmethod
    def execute(cls, noise, guider, sampler, sigmas, latent_image) -> io.NodeOutput:
        from comfy_extras.nodes_custom_sampler import SamplerCustomAdvanced

        recorder = GuidanceRecorder()
        out = SamplerCustomAdvanced.execute(noise, InspectedGuider(guider, recorder), sampler, sigmas, latent_image)
        steps = recorder.steps()
        text = inspector_report(steps, len(recorder.calls))
        return io.NodeOutput(out.args[0], inspector_plot(steps), text, ui={"text": [text]})


GUIDANCE_NODES = [GuiderRAAG, GuiderSMCCFG, GuiderCFGZeroStar, GuiderAPG, GuiderLimitedInterval, GuiderRescale,
                  GuiderSchedule, GuiderCFGPP, GuiderRCFG, GuiderRectifiedCFGPP, GuiderCFGMP, PatchRAAG, PatchSMCCFG,
                  GuidanceInspector]
