"""Reference trajectories, Bellman-optimal steps (BOSS) and the straightness inspector for flow models.

The fine reference solve is its own node, RectiFlow Reference Trajectory: ComfyUI's execution cache keeps a node's
outputs while its inputs are unchanged, so Optimal Steps and the Straightness Inspector share one solve per
model, conditioning, latent, seed and grid, across prompts too.
"""
from __future__ import annotations

from comfy_api.latest import io

import comfy.model_management
import comfy.sample
import comfy.samplers
import comfy.utils

from ..samplers.trajectory import Trajectory, optimal_sigmas, reference_trajectory, straightness_report
from .comfy_compat import fix_empty_latent
from .inversion import check_flow_model
from .plots import straightness_plot
from .schedules import steps_input
from .validation import RectiFlowNode

CATEGORY = "sampling/rectiflow/schedules"
TRAJECTORY = io.Custom("RECTIFLOW_TRAJECTORY")


def trajectory_input():
    return TRAJECTORY.Input("trajectory", tooltip="Fine reference solve from a RectiFlow Reference Trajectory node.")


def compute_reference(guider, latent_image: dict, seed: int, fine_steps: int) -> tuple[Trajectory, int]:
    """(fine Heun trajectory of `guider` from seeded noise, model calls it cost), through ComfyUI's sampling path."""
    check_flow_model(guider.model_patcher, "guider")
    latent = fix_empty_latent(guider.model_patcher, latent_image)
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
        recorded.append(reference_trajectory(counted, x, sigmas, extra_args, progress))
        return recorded[-1].states[-1].to(x)

    noise = comfy.sample.prepare_noise(latent, seed, latent_image.get("batch_index"))
    guider.sample(noise, latent, comfy.samplers.KSAMPLER(record), sigmas, seed=seed, disable_pbar=True)
    return recorded[-1], calls[0]


def describe_reference(traj: Trajectory, model_calls: int, seed: int) -> str:
    steps, batch = len(traj.sigmas) - 1, traj.states.shape[1]
    return (f"reference trajectory: {steps} Heun steps, sigma {float(traj.sigmas[0]):.3g} -> "
            f"{float(traj.sigmas[-1]):.3g}, batch {batch}, seed {seed}\n"
            f"cost: {model_calls} model calls (one guider evaluation each), computed once while the inputs "
            f"are unchanged")


class ReferenceTrajectory(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowReferenceTrajectory",
            display_name="RectiFlow Reference Trajectory",
            category=CATEGORY,
            description="One fine Heun solve of the guided model from seeded noise, recording the state and velocity "
                        "at every grid sigma. Feed it to Optimal Steps and the Straightness Inspector; ComfyUI "
                        "reuses it between prompts while these inputs are unchanged.",
            inputs=[
                io.Guider.Input("guider", tooltip="The guided model to study (model, conditioning and CFG)."),
                io.Latent.Input("latent_image",
                                tooltip="Empty latent giving the shape and batch of the reference run."),
                io.Int.Input("noise_seed", default=0, min=0, max=0xffffffffffffffff, control_after_generate=True,
                             tooltip="Seed of the reference noise; the result is deterministic for a seed."),
                io.Int.Input("fine_steps", default=64, min=8, max=1000,
                             tooltip="Heun steps of the reference solve: 2 model calls each, 2 * fine_steps - 1 "
                                     "in all (the last step into sigma 0 is an Euler step)."),
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
    def execute(cls, guider, latent_image, noise_seed: int, fine_steps: int) -> io.NodeOutput:
        traj, calls = compute_reference(guider, latent_image, noise_seed, fine_steps)
        return io.NodeOutput(traj, describe_reference(traj, calls, noise_seed))


class OptimalSteps(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowOptimalSteps",
            display_name="RectiFlow Optimal Steps (BOSS)",
            category=CATEGORY,
            description="Chooses `steps` sigmas from a fine reference trajectory by dynamic programming so that "
                        "Euler jumps deviate least from it (Bellman optimal step sizes, arXiv 2312.16414). No model "
                        "calls of its own.",
            inputs=[trajectory_input(), steps_input(8)],
            outputs=[io.Sigmas.Output(tooltip="steps + 1 sigmas from 1 to 0, a subset of the reference grid.")],
        )

    @classmethod
    def execute(cls, trajectory: Trajectory, steps: int) -> io.NodeOutput:
        fine_steps = len(trajectory.sigmas) - 1
        if steps > fine_steps:
            raise ValueError(f"steps: expected at most the reference trajectory's fine_steps ({fine_steps}), "
                             f"got {steps}")
        return io.NodeOutput(optimal_sigmas(trajectory, steps))


class StraightnessInspector(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowStraightnessInspector",
            display_name="RectiFlow Straightness Inspector",
            category=CATEGORY,
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
        report = straightness_report(trajectory, tolerance)
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
