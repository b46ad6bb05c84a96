"""SIGMAS nodes: flow schedules (SD3 shift, Flux shift, linear-quadratic, beta) as plain 1-D sigma tensors."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..samplers import schedules
from .validation import RectiFlowNode, check_finite

CATEGORY = "sampling/rectiflow/schedules"


def steps_input(default: int = 20):
    return io.Int.Input("steps", default=default, min=1, max=10000, tooltip="Number of solver steps.")


def sigmas_output() -> io.Sigmas.Output:
    return io.Sigmas.Output(tooltip="steps + 1 sigmas from 1 (noise) to 0 (data).")


def shift_schedule_output(sigmas: torch.Tensor) -> io.NodeOutput:
    return io.NodeOutput(schedules.validate_sigmas(sigmas, "sigmas"))


class FlowShiftScheduler(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowFlowShiftScheduler",
            display_name="RectiFlow Flow Shift Schedule (SD3)",
            category=CATEGORY,
            description="SD3 time shift: sigma = shift*t / (1 + (shift - 1)*t) on a uniform t grid from 1 to 0.",
            inputs=[steps_input(), io.Float.Input("shift", default=3.0, min=0.01, max=100.0, step=0.01,
                                                  tooltip="SD3/SD3.5 use 3.0; 1.0 is the linear schedule.")],
            outputs=[sigmas_output()],
        )

    @classmethod
    def execute(cls, steps: int, shift: float) -> io.NodeOutput:
        check_finite(shift=shift)
        return shift_schedule_output(schedules.flow_shift_sigmas(steps, shift))


MAX_FLUX_MU = 15.0   # e^15 = 3.3e6: beyond this the float32 sigmas collapse onto 1 (or 0)


class FluxShiftScheduler(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowFluxShiftScheduler",
            display_name="RectiFlow Flux Shift Schedule",
            category=CATEGORY,
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
            outputs=[sigmas_output()],
        )

    @classmethod
    def execute(cls, steps: int, width: int, height: int, base_shift: float, max_shift: float) -> io.NodeOutput:
        check_finite(base_shift=base_shift, max_shift=max_shift)
        tokens = (width // 16) * (height // 16)
        mu = schedules.flux_shift(tokens, base_shift=base_shift, max_shift=max_shift)
        if not -MAX_FLUX_MU <= mu <= MAX_FLUX_MU:
            raise ValueError(f"width/height/base_shift/max_shift: {width}x{height} gives mu = {mu:.4g}, a shift of "
                             f"e^mu that rounds every sigma to 1 or 0; expected |mu| <= {MAX_FLUX_MU} (Flux at 1024x1024:"
                             " 1.15; lower max_shift or the resolution)")
        return shift_schedule_output(schedules.flux_sigmas(steps, mu))


class LinearQuadraticScheduler(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowLinearQuadraticScheduler",
            display_name="RectiFlow Linear-Quadratic Schedule",
            category=CATEGORY,
            description="Linear in sigma for the first half of the steps up to threshold_noise, then quadratic to 1 "
                        "(Mochi's schedule), returned from 1 to 0.",
            inputs=[steps_input(), io.Float.Input("threshold_noise", default=0.025, min=0.0, max=1.0, step=0.001,
                                                  tooltip="Sigma reached by the linear part.")],
            outputs=[sigmas_output()],
        )

    @classmethod
    def execute(cls, steps: int, threshold_noise: float) -> io.NodeOutput:
        check_finite(threshold_noise=threshold_noise)
        return shift_schedule_output(schedules.linear_quadratic_sigmas(steps, threshold_noise))


class BetaScheduler(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowBetaScheduler",
            display_name="RectiFlow Beta Schedule",
            category=CATEGORY,
            description="Sigmas at the quantiles of a Beta(alpha, beta) distribution: alpha = beta < 1 spends more "
                        "steps near both ends (arXiv 2407.12173).",
            inputs=[steps_input(),
                    io.Float.Input("alpha", default=0.6, min=0.01, max=50.0, step=0.01, tooltip="Beta alpha."),
                    io.Float.Input("beta", default=0.6, min=0.01, max=50.0, step=0.01, tooltip="Beta beta.")],
            outputs=[sigmas_output()],
        )

    @classmethod
    def execute(cls, steps: int, alpha: float, beta: float) -> io.NodeOutput:
        check_finite(alpha=alpha, beta=beta)
        return shift_schedule_output(schedules.beta_sigmas(steps, alpha, beta))


SCHEDULE_NODES = [FlowShiftScheduler, FluxShiftScheduler, LinearQuadraticScheduler, BetaScheduler]
