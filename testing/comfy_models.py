"""ComfyUI MODELs and graph inputs for tests and benchmarks, built through the real nodes and the pack's loaders.

The analytic model's network returns the exact marginal velocity E[eps - x0 | x_sigma] of a
models/analytic_flows.GaussianMixtureFlow; ComfyUI's CONST model sampling turns it into x0_hat = x - sigma v.
"""
from __future__ import annotations

import functools

import torch

from ..models.analytic_flows import ExactVelocityNet, GaussianMixtureFlow
from .comfy_host import pack_module, run_node


def analytic_model(flow: GaussianMixtureFlow, channels: int):
    """A ComfyUI ModelPatcher (flow, CONST, shift 1, multiplier 1000) whose network is the flow's exact velocity."""
    flow_models = pack_module("nodes.flow_models")
    return flow_models.flow_model_patcher(functools.partial(ExactVelocityNet, flow), {},
                                          flow_models.plain_latent_format(channels), memory_usage_factor=0.01)


def counting_model(model, counter: list[int]):
    """A clone whose unet wrapper adds every evaluated batch row to counter[0] (model evaluations = NFE)."""
    counted = model.clone()

    def apply(apply_model, p):
        counter[0] += p["input"].shape[0]
        return apply_model(p["input"], p["timestep"], **p["c"])
    counted.set_model_unet_function_wrapper(apply)
    return counted


def empty_conditioning() -> list:
    """CONDITIONING for BasicGuider on an unconditional analytic model (the context is ignored)."""
    return [[torch.zeros(1, 1, 1), {}]]


def digits_inputs(per_label: int) -> tuple:
    """(MODEL, positive one label per column, null negative, empty LATENT of 10 * per_label digits) of the embedded
    digits model."""
    model = run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors")[0]
    positive = run_node("RectiFlowDigitsLabel", labels="0 1 2 3 4 5 6 7 8 9")[0]
    negative = run_node("RectiFlowDigitsLabel", labels="null")[0]
    latent = run_node("RectiFlowDigitsEmptyLatent", batch_size=10 * per_label)[0]
    return model, positive, negative, latent
