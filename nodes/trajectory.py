"""Reference trajectories, Bellman-optimal steps (BOSS) and the straightness inspector for flow models."""
from __future__ import annotations

import hashlib

import torch
from comfy_api.latest import io

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils

from ..samplers.trajectory import Trajectory, optimal_sigmas, reference_trajectory, straightness_report
from .inversion import check_flow_model
from .plots import straightness_plot
from .schedules import steps_input

CATEGORY = "sampling/rectiflow/schedules"


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


class OptimalSteps(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowOptimalSteps",
            display_name="RectiFlow Optimal Steps (BOSS)",
            category=CATEGORY,
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
            category=CATEGORY,
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


TRAJECTORY_NODES = [OptimalSteps, StraightnessInspector]
