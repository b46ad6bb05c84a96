"""Wrap a plain torch velocity network as a ComfyUI flow (CONST) MODEL: t = 1000 * sigma, output v = eps - x0."""
from __future__ import annotations

import torch

import comfy.latent_formats
import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.model_sampling
import comfy.supported_models_base

from .comfy_compat import is_velocity_flow


def plain_latent_format(channels: int, rgb_factors: list[list[float]] | None = None):
    """A LatentFormat class for pixel-like latents (no scaling), previewed with `rgb_factors` if given."""
    attributes = {"latent_channels": channels, "scale_factor": 1.0}
    if rgb_factors is not None:
        attributes["latent_rgb_factors"] = rgb_factors
    return type(f"PlainLatent{channels}", (comfy.latent_formats.LatentFormat,), attributes)


def flow_model_config(unet_config: dict, latent_format, memory_usage_factor: float = 0.05):
    """A supported-model config whose model sampling is ComfyUI's flow (CONST) with multiplier 1000."""
    class FlowModelConfig(comfy.supported_models_base.BASE):
        unet_extra_config = {}
        sampling_settings = {"shift": 1.0, "multiplier": 1000}
        supported_inference_dtypes = [torch.float32]

    FlowModelConfig.latent_format = latent_format
    FlowModelConfig.memory_usage_factor = memory_usage_factor
    config = FlowModelConfig(unet_config)
    config.set_inference_dtype(torch.float32, None)
    return config


def flow_model_patcher(unet_model, unet_config: dict, latent_format,
                       memory_usage_factor: float = 0.05) -> comfy.model_patcher.ModelPatcher:
    """ModelPatcher around comfy.model_base.BaseModel(ModelType.FLOW) building `unet_model(**unet_config)`."""
    config = flow_model_config(unet_config, latent_format, memory_usage_factor)
    model = comfy.model_base.BaseModel(config, model_type=comfy.model_base.ModelType.FLOW,
                                       device=comfy.model_management.unet_offload_device(), unet_model=unet_model)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def is_flow_model(model_patcher) -> bool:
    """True when the MODEL's sampling is ComfyUI's flow convention (CONST: x - x0_hat = sigma v)."""
    return is_velocity_flow(model_patcher.get_model_object("model_sampling"))
