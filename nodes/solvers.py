"""Solver, schedule, inversion, optimal-steps and straightness nodes for flow models."""
from __future__ import annotations

import copy
import hashlib

import torch
from comfy_api.latest import io

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview

from ..samplers import schedules
from ..samplers.solvers import SOLVERS, sample_flow_adaptive, sample_flow_sde
from ..samplers.trajectory import Trajectory, optimal_sigmas, reference_trajectory, straightness_report
from .flow_models import is_flow_model
from .errors import quoted
from .plots import straightness_plot
from .samplers import rectiflow_ksampler

SAMPLER_CATEGORY = "sampling/rectiflow/samplers"
SCHEDULE_CATEGORY = "sampling/rectiflow/schedules"
INVERSION_CATEGORY = "sampling/rectiflow/inversion"
SDE_DEFAULT_NOISE = 0.7


def solver_tooltip() -> str:
    return "Flow solver. " + " ".join(f"{name}: {info.description}" for name, info in SOLVERS.items())


class SamplerSelect(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerSelect",
            display_name="RectiFlow Sampler Select",
            category=SAMPLER_CATEGORY,
            description="Any RectiFlow flow solver as a SAMPLER for SamplerCustom(Advanced) or RectiFlow Invert. "
                        "Decreasing sigmas generate, increasing sigmas invert.",
            inputs=[io.Combo.Input("solver", options=list(SOLVERS), default="ab2", tooltip=solver_tooltip())],
            outputs=[io.Sampler.Output()],
        )

    @classmethod
    def execute(cls, solver: str) -> io.NodeOutput:
        if solver not in SOLVERS:
            raise ValueError(f"solver: unknown solver {quoted(solver)}, expected one of {list(SOLVERS)}")
        options = {"noise_scale": SDE_DEFAULT_NOISE} if solver == "sde" else {}
        return io.NodeOutput(rectiflow_ksampler(SOLVERS[solver].function, **options))


class SamplerAdaptive(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerAdaptive",
            display_name="RectiFlow Sampler Adaptive (Bogacki-Shampine)",
            category=SAMPLER_CATEGORY,
            description="Adaptive embedded Bogacki-Shampine 3(2) flow solver; the sigmas are checkpoints it passes "
                        "through, step sizes follow rtol/atol.",
            inputs=[
                io.Float.Input("rtol", default=1e-3, min=1e-8, max=1.0, step=1e-4, round=False,
                               tooltip="Relative error tolerance per accepted step."),
                io.Float.Input("atol", default=1e-4, min=1e-10, max=1.0, step=1e-5, round=False,
                               tooltip="Absolute error tolerance per accepted step."),
                io.Int.Input("max_nfe", default=200, min=4, max=100000,
                             tooltip="Model-call budget; sampling stops with an error instead of exceeding it."),
            ],
            outputs=[io.Sampler.Output()],
        )

    @classmethod
    def execute(cls, rtol: float, atol: float, max_nfe: int) -> io.NodeOutput:
        return io.NodeOutput(rectiflow_ksampler(sample_flow_adaptive, rtol=rtol, atol=atol, max_nfe=max_nfe))


class SamplerSDE(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerSDE",
            display_name="RectiFlow Sampler SDE",
            category=SAMPLER_CATEGORY,
            description="Stochastic flow sampler with the ODE's marginals (arXiv 2503.19385); noise_scale 0 is "
                        "exactly the Euler ODE sampler. Generation only.",
            inputs=[
                io.Float.Input("noise_scale", default=SDE_DEFAULT_NOISE, min=0.0, max=5.0, step=0.01, round=False,
                               tooltip="Diffusion strength g(sigma) = noise_scale * sigma; 0 = deterministic ODE."),
                io.Combo.Input("diffusion", options=["sigma", "square", "constant"], default="sigma",
                               tooltip="Shape of g(sigma): proportional to sigma (paper default), sigma^2, or flat."),
            ],
            outputs=[io.Sampler.Output()],
        )

    @classmethod
    def execute(cls, noise_scale: float, diffusion: str) -> io.NodeOutput:
        return io.NodeOutput(rectiflow_ksampler(sample_flow_sde, noise_scale=noise_scale, diffusion=diffusion))


def steps_input(default: int = 20):
    return io.Int.Input("steps", default=default, min=1, max=10000, tooltip="Number of solver steps.")


def shift_schedule_output(sigmas: torch.Tensor) -> io.NodeOutput:
    return io.NodeOutput(schedules.validate_sigmas(sigmas, "sigmas"))


class FlowShiftScheduler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowFlowShiftScheduler",
            display_name="RectiFlow Flow Shift Schedule (SD3)",
            category=SCHEDULE_CATEGORY,
            description="SD3 time shift: sigma = shift*t / (1 + (shift - 1)*t) on a uniform t grid from 1 to 0.",
            inputs=[steps_input(), io.Float.Input("shift", default=3.0, min=0.01, max=100.0, step=0.01,
                                                  tooltip="SD3/SD3.5 use 3.0; 1.0 is the linear schedule.")],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, steps: int, shift: float) -> io.NodeOutput:
        return shift_schedule_output(schedules.flow_shift_sigmas(steps, shift))


class FluxShiftScheduler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowFluxShiftScheduler",
            display_name="RectiFlow Flux Shift Schedule",
            category=SCHEDULE_CATEGORY,
            description="Flux's resolution-dependent shift: mu grows linearly with the image token count between "
                        "base_shift and max_shift; sigma = e^mu / (e^mu + 1/t - 1).",
            inputs=[
                steps_input(),
                io.Int.Input("width", default=1024, min=16, max=16384, step=16, tooltip="Image width in pixels."),
                io.Int.Input("height", default=1024, min=16, max=16384, step=16, tooltip="Image height in pixels."),
                io.Float.Input("base_shift", default=0.5, min=0.0, max=10.0, step=0.01,
                               tooltip="mu at 256 image tokens (Flux: 0.5)."),
                io.Float.Input("max_shift", default=1.15, min=0.0, max=10.0, step=0.01,
                               tooltip="mu at 4096 image tokens (Flux: 1.15)."),
            ],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, steps: int, width: int, height: int, base_shift: float, max_shift: float) -> io.NodeOutput:
        tokens = (width // 16) * (height // 16)
        mu = schedules.flux_shift(tokens, base_shift=base_shift, max_shift=max_shift)
        return shift_schedule_output(schedules.flux_sigmas(steps, mu))


class LinearQuadraticScheduler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowLinearQuadraticScheduler",
            display_name="RectiFlow Linear-Quadratic Schedule",
            category=SCHEDULE_CATEGORY,
            description="Linear in sigma for the first half of the steps up to threshold_noise, then quadratic to 1 "
                        "(Mochi's schedule), returned from 1 to 0.",
            inputs=[steps_input(), io.Float.Input("threshold_noise", default=0.025, min=0.0, max=1.0, step=0.001,
                                                  tooltip="Sigma reached by the linear part.")],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, steps: int, threshold_noise: float) -> io.NodeOutput:
        return shift_schedule_output(schedules.linear_quadratic_sigmas(steps, threshold_noise))


class BetaScheduler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowBetaScheduler",
            display_name="RectiFlow Beta Schedule",
            category=SCHEDULE_CATEGORY,
            description="Sigmas at the quantiles of a Beta(alpha, beta) distribution: alpha = beta < 1 spends more "
                        "steps near both ends (arXiv 2407.12173).",
            inputs=[steps_input(),
                    io.Float.Input("alpha", default=0.6, min=0.01, max=50.0, step=0.01, tooltip="Beta alpha."),
                    io.Float.Input("beta", default=0.6, min=0.01, max=50.0, step=0.01, tooltip="Beta beta.")],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, steps: int, alpha: float, beta: float) -> io.NodeOutput:
        return shift_schedule_output(schedules.beta_sigmas(steps, alpha, beta))


def model_without_inverse_scaling(model_patcher):
    """Clone whose model_sampling keeps latents as they are at the end of a run (CONST divides by 1 - sigma)."""
    clone = model_patcher.clone()
    sampling = copy.copy(model_patcher.get_model_object("model_sampling"))
    sampling.inverse_noise_scaling = lambda sigma, latent: latent
    clone.add_object_patch("model_sampling", sampling)
    return clone


def guider_with_model(guider, model_patcher):
    """Shallow copy of any CFGGuider-like guider running on another MODEL clone."""
    clone = copy.copy(guider)
    clone.model_patcher = model_patcher
    clone.model_options = model_patcher.model_options
    return clone


def increasing(sigmas: torch.Tensor) -> torch.Tensor:
    sigmas = schedules.validate_sigmas(sigmas, "sigmas")
    return sigmas if sigmas[-1] > sigmas[0] else sigmas.flip(0)


def check_flow_model(model_patcher, input_name: str) -> None:
    if not is_flow_model(model_patcher):
        raise ValueError(f"{input_name}: expected a flow (CONST) model such as SD3, Flux or the digits model; "
                         "this model predicts eps or v-diffusion, which RectiFlow's flow nodes do not support")


class InvertedNoise:
    """NOISE that makes ComfyUI's noise scaling, sigma * noise + (1 - sigma) * latent, start a run exactly at the
    inverted state: noise = (x_inv - (1 - sigma) * latent) / sigma in the model's latent space."""

    def __init__(self, inverted: torch.Tensor, sigma: float, process_latent_in):
        self.seed = 0
        self.inverted = inverted
        self.sigma = float(sigma)
        self.process_latent_in = process_latent_in

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        latent = input_latent["samples"]
        if latent.shape != self.inverted.shape:
            raise ValueError(f"latent_image: expected the shape of the inverted latent {list(self.inverted.shape)}, "
                             f"got {list(latent.shape)}")
        x = self.process_latent_in(self.inverted.float())
        if self.sigma >= 1.0:
            return x.cpu()
        base = self.process_latent_in(latent.float()) if torch.count_nonzero(latent) > 0 else latent.float()
        return ((x - (1 - self.sigma) * base) / self.sigma).cpu()


class InvertLatent(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowInvert",
            display_name="RectiFlow Invert (latent to noise)",
            category=INVERSION_CATEGORY,
            description="Integrates the flow ODE from the image (sigma 0) towards noise with any RectiFlow SAMPLER. "
                        "Plug `noise` into SamplerCustomAdvanced with the same sigmas (decreasing) to reconstruct "
                        "or edit.",
            inputs=[
                io.Guider.Input("guider", tooltip="Guider to invert with (BasicGuider or CFGGuider at cfg 1 invert "
                                                  "most faithfully)."),
                io.Sampler.Input("sampler", tooltip="A RectiFlow sampler; ComfyUI's own samplers cannot start at 0."),
                io.Sigmas.Input("sigmas", tooltip="Schedule; a decreasing one is flipped to run 0 -> its largest sigma."),
                io.Latent.Input("latent_image", tooltip="Clean latent to invert."),
            ],
            outputs=[io.Latent.Output(display_name="inverted", tooltip="The latent at the largest sigma."),
                     io.Noise.Output(display_name="noise",
                                     tooltip="NOISE for SamplerCustomAdvanced that starts exactly at `inverted`.")],
        )

    @classmethod
    def execute(cls, guider, sampler, sigmas, latent_image) -> io.NodeOutput:
        check_flow_model(guider.model_patcher, "guider")
        sigmas = increasing(sigmas)
        latent = comfy.sample.fix_empty_latent_channels(guider.model_patcher, latent_image["samples"])
        inverting = guider_with_model(guider, model_without_inverse_scaling(guider.model_patcher))
        callback = latent_preview.prepare_callback(guider.model_patcher, len(sigmas) - 1)
        inverted = inverting.sample(torch.zeros_like(latent), latent, sampler, sigmas,
                                    denoise_mask=latent_image.get("noise_mask"), callback=callback,
                                    disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=0)
        inverted = inverted.to(comfy.model_management.intermediate_device())
        out = {k: v for k, v in latent_image.items() if k != "noise_mask"}
        out["samples"] = inverted
        noise = InvertedNoise(inverted, float(sigmas[-1]), guider.model_patcher.get_model_object("process_latent_in"))
        return io.NodeOutput(out, noise)


# -------------------------------------------------------------------------- reference trajectories (cached)

_TRAJECTORY_CACHE: dict[str, Trajectory] = {}
_CACHE_SIZE = 8


def _tensor_digest(obj, h) -> None:
    if isinstance(obj, torch.Tensor):
        h.update(str((obj.shape, obj.dtype)).encode())
        h.update(obj.detach().float().cpu().contiguous().numpy().tobytes())
    elif isinstance(obj, dict):
        for k in sorted(obj, key=str):
            h.update(str(k).encode())
            _tensor_digest(obj[k], h)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _tensor_digest(item, h)
    else:
        h.update(repr(obj).encode() if isinstance(obj, (int, float, str, bool, type(None))) else type(obj).__name__.encode())


def trajectory_key(guider, latent: torch.Tensor, seed: int, fine_steps: int) -> str:
    """Cache key: model identity and patches, conditioning, guider settings, latent, seed and grid size."""
    h = hashlib.sha256()
    patcher = guider.model_patcher
    h.update(f"{type(guider).__name__}:{id(patcher.model)}:{patcher.patches_uuid}".encode())
    _tensor_digest(getattr(guider, "original_conds", {}), h)
    _tensor_digest({k: v for k, v in vars(guider).items() if isinstance(v, (int, float, str, bool))}, h)
    _tensor_digest(latent, h)
    h.update(f"{seed}:{fine_steps}".encode())
    return h.hexdigest()


def reference_for(guider, latent_image: dict, seed: int, fine_steps: int) -> Trajectory:
    """Fine Heun trajectory of `guider` from seeded noise, through ComfyUI's own sampling path; cached."""
    check_flow_model(guider.model_patcher, "guider")
    latent = comfy.sample.fix_empty_latent_channels(guider.model_patcher, latent_image["samples"])
    key = trajectory_key(guider, latent, seed, fine_steps)
    if key in _TRAJECTORY_CACHE:
        return _TRAJECTORY_CACHE[key]
    sampling = guider.model_patcher.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(sampling, "simple", fine_steps).float()
    recorded: list[Trajectory] = []
    pbar = comfy.utils.ProgressBar(fine_steps)

    def record(model, x, sigmas, extra_args=None, callback=None, disable=None):
        def progress(done: int, total: int) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            pbar.update_absolute(done, total)
        recorded.append(reference_trajectory(model, x, sigmas, extra_args, progress))
        return recorded[-1].states[-1].to(x)

    noise = comfy.sample.prepare_noise(latent, seed, latent_image.get("batch_index"))
    guider.sample(noise, latent, comfy.samplers.KSAMPLER(record), sigmas, seed=seed, disable_pbar=True)
    if len(_TRAJECTORY_CACHE) >= _CACHE_SIZE:
        _TRAJECTORY_CACHE.pop(next(iter(_TRAJECTORY_CACHE)))
    _TRAJECTORY_CACHE[key] = recorded[-1]
    return recorded[-1]


def reference_inputs():
    return [
        io.Guider.Input("guider", tooltip="The guided model to study (model, conditioning and CFG)."),
        io.Latent.Input("latent_image", tooltip="Empty latent giving the shape and batch of the reference run."),
        io.Int.Input("noise_seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                     tooltip="Seed of the reference noise; the result is deterministic for a seed."),
        io.Int.Input("fine_steps", default=64, min=8, max=1000,
                     tooltip="Heun steps of the one-off reference solve (2 model calls each); cached per model, "
                             "conditioning, latent, seed and fine_steps."),
    ]


class OptimalStepsScheduler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowOptimalSteps",
            display_name="RectiFlow Optimal Steps (BOSS)",
            category=SCHEDULE_CATEGORY,
            description="Chooses `steps` sigmas from a fine reference trajectory by dynamic programming so that "
                        "Euler jumps deviate least from it (Bellman optimal step sizes, arXiv 2312.16414). Costs "
                        "one reference solve, then cached.",
            inputs=[*reference_inputs(), steps_input(8)],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, guider, latent_image, noise_seed: int, fine_steps: int, steps: int) -> io.NodeOutput:
        if steps > fine_steps:
            raise ValueError(f"steps: expected at most fine_steps ({fine_steps}), got {steps}")
        traj = reference_for(guider, latent_image, noise_seed, fine_steps)
        return io.NodeOutput(optimal_sigmas(traj, steps))


class StraightnessInspector(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowStraightnessInspector",
            display_name="RectiFlow Straightness Inspector",
            category=SCHEDULE_CATEGORY,
            description="Runs a fine trajectory and reports per-step curvature, distance from a straight line and "
                        "the Euler error against step count; recommends a step count and plots why.",
            inputs=[*reference_inputs(),
                    io.Float.Input("tolerance", default=0.1, min=1e-5, max=1.0, step=0.001,
                                   tooltip="Recommended steps: fewest Euler steps (optimal schedule) whose terminal "
                                           "RMSE is below tolerance times the RMS of the result.")],
            outputs=[io.Image.Output(display_name="plot"), io.Int.Output(display_name="recommended_steps"),
                     io.String.Output(display_name="report")],
        )

    @classmethod
    def execute(cls, guider, latent_image, noise_seed: int, fine_steps: int, tolerance: float) -> io.NodeOutput:
        report = straightness_report(reference_for(guider, latent_image, noise_seed, fine_steps), tolerance)
        text = format_report(report)
        return io.NodeOutput(straightness_plot(report), report.recommended_steps, text,
                             ui={"text": [text]})


def format_report(report) -> str:
    errors = ", ".join(f"{k}: {e:.4f}" for k, e in report.euler_error_by_steps.items())
    return (f"straightness S = {report.straightness:.5f} (0 = straight)\n"
            f"max curvature {float(report.curvature.max()):.4f} at sigma "
            f"{float(report.sigmas[int(report.curvature.argmax())]):.3f}\n"
            f"relative Euler RMSE by steps (optimal schedule): {errors}\n"
            f"recommended steps: {report.recommended_steps}")


SOLVER_NODES = [SamplerSelect, SamplerAdaptive, SamplerSDE, FlowShiftScheduler, FluxShiftScheduler,
                LinearQuadraticScheduler, BetaScheduler, InvertLatent, OptimalStepsScheduler, StraightnessInspector]
