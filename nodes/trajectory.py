"""Reference trajectories, Bellman-optimal steps (BOSS) and the straightness inspector for flow models.

The fine reference solve is its own node, RectiFlow Reference Trajectory: ComfyUI's execution cache keeps a node's
outputs while its inputs are unchanged, so Optimal Steps and the Straightness Inspector share one solve per
model, conditioning, latent, seed and grid, across prompts too.
"""
from __future__ import annotations

import time

from comfy_api.latest import io

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils

from ..samplers.trajectory import (Trajectory, jump_cost_work, optimal_schedule, reference_trajectory,
                                   straightness_report)
from .comfy_compat import fix_empty_latent
from .inversion import check_flow_model
from .plots import straightness_plot
from .progress_text import show_progress_text
from .schedules import steps_input
from .validation import RectiFlowNode, check_finite

CATEGORY = "sampling/rectiflow/schedules"
TRAJECTORY = io.Custom("RECTIFLOW_TRAJECTORY")
MAX_REFERENCE_BYTES = 8 * 2**30   # states + velocities kept in float64 on the CPU


def trajectory_input():
    return TRAJECTORY.Input("trajectory", tooltip="Fine reference solve from a RectiFlow Reference Trajectory node.")


def reference_noise(noise, latent_image: dict, latent, seed: int) -> tuple:
    """(noise tensor, seed) of a reference run: the NOISE input's own noise when given (as SamplerCustomAdvanced
    draws it), else ComfyUI's seeded noise."""
    if noise is None:
        return comfy.sample.prepare_noise(latent, seed, latent_image.get("batch_index")), seed
    drawn = noise.generate_noise({**latent_image, "samples": latent})
    if tuple(drawn.shape) != tuple(latent.shape):
        raise ValueError(f"noise: expected noise of the latent's shape {list(latent.shape)}, got {list(drawn.shape)}")
    return drawn, int(getattr(noise, "seed", seed))


def reference_bytes(fine_steps: int, latent) -> int:
    return (2 * fine_steps + 1) * latent.numel() * 8


def check_reference_size(fine_steps: int, latent) -> None:
    """Refuse, naming the inputs, a reference whose recorded states would not fit in memory."""
    size = reference_bytes(fine_steps, latent)
    if size > MAX_REFERENCE_BYTES:
        raise ValueError(f"fine_steps / latent_image: a reference of {fine_steps} steps on a latent of shape "
                         f"{list(latent.shape)} keeps {size / 2**30:.1f} GiB of states and velocities; expected at "
                         f"most {MAX_REFERENCE_BYTES / 2**30:.0f} GiB: lower fine_steps or the batch size")


def reference_estimate(fine_steps: int, latent) -> str:
    return (f"reference solve: {2 * fine_steps - 1} model calls ({fine_steps} Heun steps) on batch "
            f"{latent.shape[0]}, keeping {reference_bytes(fine_steps, latent) / 2**20:.0f} MiB of states")


def compute_reference(guider, latent_image: dict, seed: int, fine_steps: int, noise=None,
                      say=lambda text: None) -> tuple[Trajectory, int]:
    """(fine Heun trajectory of `guider` from `noise` (a NOISE, or seeded noise when None), model calls it cost),
    through ComfyUI's sampling path. `say` receives the cost up front and, after the first step, the time left."""
    check_flow_model(guider.model_patcher, "guider")
    latent = fix_empty_latent(guider.model_patcher, latent_image)
    check_reference_size(fine_steps, latent)
    estimate = reference_estimate(fine_steps, latent)
    say(estimate)
    sampling = guider.model_patcher.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(sampling, "simple", fine_steps).float()
    recorded: list[Trajectory] = []
    calls = [0]
    pbar = comfy.utils.ProgressBar(fine_steps)

    def record(model, x, sigmas, extra_args=None, callback=None, disable=None):
        def counted(*args, **kwargs):
            calls[0] += 1
            return model(*args, **kwargs)

        def progress(done: int, total: int) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            pbar.update_absolute(done, total)
            if done == 1:
                say(f"{estimate}; about {(time.monotonic() - started) * (total - 1):.0f} s left at the first "
                    "step's pace")
        recorded.append(reference_trajectory(counted, x, sigmas, extra_args, progress))
        return recorded[-1].states[-1].to(x)

    start, seed = reference_noise(noise, latent_image, latent, seed)
    started = time.monotonic()
    guider.sample(start, latent, comfy.samplers.KSAMPLER(record), sigmas, seed=seed, disable_pbar=True)
    recorded[-1].model_calls = calls[0]
    return recorded[-1], calls[0]


def describe_reference(traj: Trajectory, model_calls: int, seed: int, from_noise_input: bool = False) -> str:
    steps, batch = len(traj.sigmas) - 1, traj.states.shape[1]
    source = f"the noise input (seed {seed})" if from_noise_input else f"seed {seed}"
    return (f"reference trajectory: {steps} Heun steps, sigma {float(traj.sigmas[0]):.3g} -> "
            f"{float(traj.sigmas[-1]):.3g}, batch {batch}, noise from {source}\n"
            f"cost: {model_calls} model calls (one guider evaluation each), computed once while the inputs "
            f"are unchanged")


class ReferenceTrajectory(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowReferenceTrajectory",
            display_name="RectiFlow Reference Trajectory",
            category=CATEGORY,
            hidden=[io.Hidden.unique_id],
            description="One fine Heun solve of the guided model from the given NOISE (or seeded noise), recording "
                        "the state and velocity at every grid sigma. Feed it to Optimal Steps and the Straightness "
                        "Inspector; ComfyUI reuses it between prompts while these inputs are unchanged.",
            inputs=[
                io.Guider.Input("guider", tooltip="The guided model to study (model, conditioning and CFG)."),
                io.Latent.Input("latent_image",
                                tooltip="Empty latent giving the shape and batch of the reference run."),
                io.Int.Input("noise_seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seed of the reference noise when `noise` is not connected; the result is "
                                     "deterministic for a seed."),
                io.Int.Input("fine_steps", default=64, min=8, max=1000,
                             tooltip="Heun steps of the reference solve: 2 model calls each, 2 * fine_steps - 1 "
                                     "in all (the last step into sigma 0 is an Euler step). Optimal Steps picks its "
                                     "sigmas among these grid points, so more steps give it a finer choice."),
                io.Noise.Input("noise", optional=True,
                               tooltip="The NOISE you will sample with (e.g. the RandomNoise feeding "
                                       "SamplerCustomAdvanced), so the schedule is optimised for that noise; "
                                       "overrides noise_seed. Use the same latent_image as the sampler."),
            ],
            outputs=[
                TRAJECTORY.Output(display_name="trajectory",
                                  tooltip="States and velocities on the fine sigma grid, for Optimal Steps and "
                                          "the Straightness Inspector."),
                io.String.Output(display_name="report",
                                 tooltip="The grid, batch and seed of the reference and how many model calls "
                                         "it cost."),
            ],
        )

    @classmethod
    def execute(cls, guider, latent_image, noise_seed: int, fine_steps: int, noise=None) -> io.NodeOutput:
        traj, calls = compute_reference(guider, latent_image, noise_seed, fine_steps, noise,
                                        lambda text: show_progress_text(cls, text))
        seed = noise_seed if noise is None else int(getattr(noise, "seed", noise_seed))
        return io.NodeOutput(traj, describe_reference(traj, calls, seed, noise is not None))


def jump_cost_progress(node_cls, trajectory: Trajectory):
    """Says the size of the jump cost matrix up front; the returned callback moves the progress bar and honours
    interrupts while it is filled."""
    fine_steps = len(trajectory.sigmas) - 1
    show_progress_text(node_cls, f"comparing {fine_steps * (fine_steps + 1) // 2} Euler jumps on the reference grid "
                                 f"({jump_cost_work(trajectory) / 1e9:.2f} G values; no model calls)")
    pbar = comfy.utils.ProgressBar(fine_steps)

    def progress(done: int, total: int) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        pbar.update_absolute(done, total)
    return progress


class OptimalSteps(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowOptimalSteps",
            display_name="RectiFlow Optimal Steps (BOSS)",
            category=CATEGORY,
            hidden=[io.Hidden.unique_id],
            description="Chooses `steps` sigmas from a fine reference trajectory by dynamic programming so that "
                        "Euler jumps deviate least from it (Bellman optimal step sizes, arXiv 2312.16414). No model "
                        "calls of its own; the report says what the reference cost. The sigmas are points of the "
                        "reference's fine grid: a jump's error is measured exactly only where the reference holds a "
                        "state and a velocity, so raise fine_steps there for a finer choice.",
            inputs=[trajectory_input(), steps_input(8)],
            outputs=[io.Sigmas.Output(tooltip="steps + 1 strictly decreasing sigmas from the reference's first sigma "
                                              "to 0, chosen among its fine grid points (where the error of a jump "
                                              "is measured, not interpolated)."),
                     io.String.Output(display_name="report",
                                      tooltip="The chosen sigmas, their predicted Euler error against even spacing, "
                                              "and how many model calls the reference cost.")],
        )

    @classmethod
    def execute(cls, trajectory: Trajectory, steps: int) -> io.NodeOutput:
        fine_steps = len(trajectory.sigmas) - 1
        if steps > fine_steps:
            raise ValueError(f"steps: expected at most the reference trajectory's fine_steps ({fine_steps}), "
                             f"got {steps}")
        schedule = optimal_schedule(trajectory, steps, jump_cost_progress(cls, trajectory))
        text = describe_schedule(schedule, trajectory)
        return io.NodeOutput(schedule.sigmas, text, ui={"text": [text]})


def describe_schedule(schedule, trajectory: Trajectory) -> str:
    fine_steps = len(trajectory.sigmas) - 1
    shown = ", ".join(f"{float(s):.4f}" for s in schedule.sigmas)
    calls = (f"{trajectory.model_calls} model calls" if trajectory.model_calls else "an unknown number of model calls")
    return (f"optimal {len(schedule.indices) - 1} steps: sigmas {shown}\n"
            f"chosen among the {fine_steps + 1} grid sigmas of the reference (fine_steps {fine_steps})\n"
            f"predicted Euler error (summed mean squared jump error): {schedule.cost:.4g}, evenly spaced grid "
            f"points: {schedule.even_cost:.4g}\n"
            f"cost: the reference took {calls}, paid once while its inputs are unchanged; this node makes none")


class StraightnessInspector(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowStraightnessInspector",
            display_name="RectiFlow Straightness Inspector",
            category=CATEGORY,
            hidden=[io.Hidden.unique_id],
            description="Reports per-step curvature, distance from a straight line and the Euler error against "
                        "step count of a reference trajectory; recommends a step count and plots why.",
            inputs=[trajectory_input(),
                    io.Float.Input("tolerance", default=0.1, min=1e-5, max=1.0, step=0.001,
                                   tooltip="Recommended steps: fewest Euler steps (optimal schedule) whose terminal "
                                           "RMSE is below tolerance times the RMS of the result.")],
            outputs=[io.Image.Output(display_name="plot",
                                     tooltip="Curvature and distance from a straight line along sigma, and the "
                                             "Euler error against step count."),
                     io.Int.Output(display_name="recommended_steps",
                                   tooltip="Fewest Euler steps on the optimal schedule within the tolerance."),
                     io.String.Output(display_name="report", tooltip="The numbers behind the plot as text.")],
        )

    @classmethod
    def execute(cls, trajectory: Trajectory, tolerance: float) -> io.NodeOutput:
        check_finite(tolerance=tolerance)
        report = straightness_report(trajectory, tolerance, progress=jump_cost_progress(cls, trajectory))
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


TRAJECTORY_NODES = [ReferenceTrajectory, OptimalSteps, StraightnessInspector]
