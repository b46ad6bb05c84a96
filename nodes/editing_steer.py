"""FlowOpt and FlowChef SAMPLER nodes for SamplerCustomAdvanced with the RectiFlow Edit Guider and the source image's
latent as latent_image. The maths lives in samplers/editing (flowopt.py, flowchef.py); ComfyUI MASK inputs become
latent-resolution weights with samplers/editing/masks.mask_to_latent."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..samplers.editing import (FLOWCHEF_TASKS, check_flowchef_options, check_flowopt_options, flow_opt, flowchef,
                                mask_to_latent)
from .editing import CATEGORY, EditKSampler, edit_ksampler
from .validation import RectiFlowNode, check_finite, check_option

SAMPLER_TOOLTIP = "SAMPLER for SamplerCustomAdvanced with the RectiFlow Edit Guider."


class FlowOptKSampler(EditKSampler):
    """FlowOpt's progress: the inversion, then iterations + 1 samplings, over the last n_max steps."""
    n_max, iterations = 1, 0

    def progress_steps(self, sigmas) -> int:
        return min(self.n_max, len(sigmas) - 1) * (self.iterations + 2)


def flowopt_ksampler(n_max: int, iterations: int, eta: float, name: str) -> FlowOptKSampler:
    def operator(v_src, v_tar, x_src, sigmas, noise, report):
        return flow_opt(v_src, v_tar, x_src, sigmas, n_max, iterations, eta, report)
    sampler = FlowOptKSampler(operator)
    sampler.name, sampler.n_max, sampler.iterations = name, n_max, iterations
    return sampler


def flowchef_operator(task: str, mask, step_size: float, optimization_steps: int, max_steps: int, source_steps: int,
                      edit_cfg: float, blur_sigma: float, name: str):
    def operator(v_src, v_tar, x_src, sigmas, noise, report):
        if noise is None or torch.count_nonzero(noise) == 0:
            raise ValueError(f"noise: {name} samples from a noise draw; connect RandomNoise, not DisableNoise")
        weight = None if mask is None else mask_to_latent(mask, x_src.shape, "mask").to(x_src.device)
        if task.startswith("super_resolution") and (x_src.shape[-1] % int(task[-1]) or x_src.shape[-2] % int(task[-1])):
            raise ValueError(f"latent_image: {task} needs a latent whose height and width divide by {task[-1]}, "
                             f"got shape {list(x_src.shape)}")
        return flowchef(v_src, v_tar, x_src, sigmas, noise.to(x_src), task, weight, step_size, optimization_steps,
                        max_steps, source_steps, edit_cfg, blur_sigma, report)
    return operator


class SamplerFlowOpt(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerFlowOpt", display_name="RectiFlow Sampler FlowOpt", category=CATEGORY,
            description="FlowOpt (arXiv 2510.22010): inverts the source over the last n_max steps (UniInv, source "
                        "branch), then optimises that starting noise by zero-order steps x <- x - eta * (edit - "
                        "source) through whole target samplings. Use with the RectiFlow Edit Guider and sigmas from "
                        "1 to 0. Official: 15 steps; SD3 n_max 12, eta 0.01; Flux n_max 13, eta 0.0025; 8 iterations; "
                        "cfg source 1.0, target 3.5. Model calls per edit: n_max x (iterations + 2). Noise unused.",
            inputs=[
                io.Int.Input("n_max", default=12, min=1, max=10000,
                             tooltip="The edit runs over the last n_max steps of the schedule (larger: stronger edit, "
                                     "less preservation). Official: SD3 12 of 15, Flux 13 of 15."),
                io.Int.Input("iterations", default=8, min=0, max=100,
                             tooltip="FlowOpt iterations: each is one full target sampling (n_max model calls). 0 is "
                                     "plain invert-and-regenerate. Official 8; stop earlier to keep more of the edit."),
                io.Float.Input("eta", default=0.01, min=0.0, max=1.0, step=0.0005, round=0.0001,
                               tooltip="Step size of the noise update toward reproducing the source (official: SD3 "
                                       "0.01, Flux 0.0025). 0 is plain invert-and-regenerate."),
            ],
            outputs=[io.Sampler.Output(tooltip=SAMPLER_TOOLTIP)],
        )

    @classmethod
    def execute(cls, n_max: int, iterations: int, eta: float) -> io.NodeOutput:
        check_finite(eta=eta)
        check_flowopt_options(n_max, iterations, eta)
        return io.NodeOutput(flowopt_ksampler(n_max, iterations, eta, cls.node_name()))


class SamplerFlowChef(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerFlowChef", display_name="RectiFlow Sampler FlowChef", category=CATEGORY,
            description="FlowChef (arXiv 2412.00100): samples the target from the NOISE input and, gradient-free, "
                        "steers each step's x0 estimate toward the source: outside the mask (inpaint), its blur "
                        "(deblur: the source is the blurred image) or its block means (super_resolution: the source "
                        "is the low-resolution image scaled up). Editing (official Flux): source_steps toward the "
                        "whole source first, and edit_cfg pushes target away from source inside the mask. Use with "
                        "the RectiFlow Edit Guider, RandomNoise and sigmas from 1 to 0. Model calls per edit: steps, "
                        "plus min(max_steps, steps) when edit_cfg > 0 with a mask.",
            inputs=[
                io.Combo.Input("task", options=list(FLOWCHEF_TASKS), default="inpaint",
                               tooltip="Measurement the result must fit: inpaint (the source outside the mask), "
                                       "deblur (11-tap Gaussian blur of the result = the source), "
                                       "super_resolution_x2/x4 (block means of the result = those of the source)."),
                io.Float.Input("step_size", default=0.08, min=0.0, max=10.0, step=0.001, round=0.0001,
                               tooltip="Steering step per element (1 projects x0 onto the measurement). Official "
                                       "RF++ inverse problems 0.08 (gradient scale 500 at 64x64); Flux editing at "
                                       "1024^2: 0.0046 (learning rate 0.6). 0 is plain sampling."),
                io.Int.Input("optimization_steps", default=1, min=0, max=100,
                             tooltip="Steering steps per sampling step, the velocity held fixed (official RF++ 1; "
                                     "Flux editing 5)."),
                io.Int.Input("max_steps", default=1000, min=0, max=10000,
                             tooltip="Steer (and apply edit_cfg) on the first max_steps steps only; later steps "
                                     "sample the target freely. Official: every step (RF++ all but the last)."),
                io.Int.Input("source_steps", default=0, min=0, max=10000,
                             tooltip="Editing: the first source_steps steps steer toward the whole source, then the "
                                     "task's measurement (official Flux editing 10 of 30)."),
                io.Float.Input("edit_cfg", default=0.0, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Editing: v_tar + edit_cfg x mask x (v_tar - v_src) while steering; 0 never "
                                       "calls the source branch (official Flux editing 4.5); needs the mask."),
                io.Float.Input("blur_sigma", default=1.0, min=0.05, max=20.0, step=0.05, round=0.01,
                               tooltip="deblur: width of the Gaussian blur in latent pixels (official RF++ 1.0)."),
                io.Mask.Input("mask", optional=True,
                              tooltip="White = the region free to change (inpaint: the hole; editing: the edited "
                                      "object). Resized to the latent; one mask or one per latent. Without a mask "
                                      "the measurement holds everywhere (inpaint needs one)."),
            ],
            outputs=[io.Sampler.Output(tooltip=SAMPLER_TOOLTIP)],
        )

    @classmethod
    def execute(cls, task: str, step_size: float, optimization_steps: int, max_steps: int, source_steps: int,
                edit_cfg: float, blur_sigma: float, mask=None) -> io.NodeOutput:
        check_option("task", task, FLOWCHEF_TASKS)
        check_finite(step_size=step_size, edit_cfg=edit_cfg, blur_sigma=blur_sigma)
        check_flowchef_options(task, step_size, optimization_steps, max_steps, source_steps, edit_cfg, blur_sigma)
        if task == "inpaint" and mask is None:
            raise ValueError("mask: FlowChef inpaint needs a MASK (white = the region to fill), e.g. from "
                             "SolidMask or Load Image's mask")
        operator = flowchef_operator(task, mask, step_size, optimization_steps, max_steps, source_steps, edit_cfg,
                                     blur_sigma, cls.node_name())
        return io.NodeOutput(edit_ksampler(operator, cls.node_name()))


STEER_NODES = [SamplerFlowOpt, SamplerFlowChef]
