"""SAMPLER nodes: RectiFlow solvers handed to ComfyUI as `comfy.samplers.KSAMPLER` objects."""
from __future__ import annotations

import functools

import torch

from comfy_api.latest import io

import comfy.model_management
import comfy.samplers

from ..samplers.solvers import sample_flow_euler

CATEGORY = "sampling/rectiflow/samplers"


def with_interrupts(solver):
    """Wrap a solver: reject non-finite starting latents, check ComfyUI's interrupt flag every step and forward the
    progress callback."""
    @functools.wraps(solver)
    def run(model, x, sigmas, extra_args=None, callback=None, disable=None, **options):
        if not torch.isfinite(x).all():
            raise ValueError("latent_image/noise: the starting latent contains NaN or infinite values; expected "
                             "finite numbers (check the noise and latent inputs)")

        def step_callback(info: dict) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            if callback is not None:
                callback(info)
        return solver(model, x, sigmas, extra_args=extra_args, callback=step_callback, disable=disable, **options)
    return run


def rectiflow_ksampler(solver, **options) -> comfy.samplers.KSAMPLER:
    return comfy.samplers.KSAMPLER(with_interrupts(solver), extra_options=options)


class SamplerFlowEuler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerEuler",
            display_name="RectiFlow Sampler Euler",
            category=CATEGORY,
            description="First-order flow Euler: x <- x + (sigma_next - sigma) * v with v = (x - x0_hat) / sigma. "
                        "Use with SamplerCustom / SamplerCustomAdvanced on flow (CONST) models.",
            inputs=[],
            outputs=[io.Sampler.Output(tooltip="RectiFlow flow-Euler SAMPLER (1 model call per step).")],
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        return io.NodeOutput(rectiflow_ksampler(sample_flow_euler))


SAMPLER_NODES = [SamplerFlowEuler]
