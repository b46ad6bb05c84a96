"""Loader core for reflow-distilled SD1.5/SDXL UNets in diffusers format: read, map keys, build a ComfyUI MODEL.

Families: InstaFlow (arXiv 2309.06380) and 2-Rectified Flow (Rectified Flow, arXiv 2209.03003) on SD1.5; other
reflow families build on `load_sd_unet`. Nothing here writes a UNet: the network is ComfyUI's own
openaimodel.UNetModel inside comfy.model_base.BaseModel / SDXL, configured from the checkpoint's config.json
(reflow_unet_config.py), its keys mapped by comfy.utils.unet_to_diffusers (reflow_unet_read.py), loaded strictly.

Public API (other loaders code against it):
    load_sd_unet(path, *, family_name, base, input_name, model_sampling_factory=None, negate_output=False,
                 variant=None) -> ModelPatcher
    read_unet_state_dict(path, *, family_name, base, input_name, variant=None) -> (comfy_state_dict, unet_config)
    flow_model_sampling(model_config) -> CONST sampling with t = 1000 * sigma (a model_sampling_factory)
    ReflowCheckpointError, NegatedUNetModel, read_diffusers_unet, comfy_unet_state_dict, check_state_dict_fits
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

import comfy.model_base
import comfy.model_management
import comfy.model_patcher
import comfy.model_sampling
import comfy.supported_models
import comfy.utils
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

from .reflow_unet_config import BASES, ReflowCheckpointError
from .reflow_unet_read import (DiffusersUNet, check_state_dict_fits, comfy_unet_state_dict, expected_layout,
                               read_diffusers_unet)

__all__ = ["load_sd_unet", "read_unet_state_dict", "flow_model_sampling", "ReflowCheckpointError", "NegatedUNetModel",
           "read_diffusers_unet", "comfy_unet_state_dict", "check_state_dict_fits", "DiffusersUNet", "BASES"]

ModelSamplingFactory = Callable[[object], torch.nn.Module]


class NegatedUNetModel(UNetModel):
    """ComfyUI's UNetModel with its output negated.

    InstaFlow / 2-Rectified Flow (arXiv 2309.06380, 2209.03003) predict the velocity from noise to data,
    v = x0 - eps, while ComfyUI's flow convention (CONST) expects eps - x0. Negating inside the network keeps
    CONST's own calculate_denoised, so ComfyUI's samplers and RectiFlow's flow solvers both accept the model."""

    def forward(self, *args, **kwargs):
        return -super().forward(*args, **kwargs)


class NegatedOutputModel(comfy.model_base.BaseModel):
    """comfy.model_base.BaseModel building NegatedUNetModel; a cooperative base for BaseModel subclasses (SDXL)
    whose __init__ calls super().__init__ without a unet_model."""

    def __init__(self, model_config, model_type=None, device=None, unet_model=None):
        super().__init__(model_config, model_type or comfy.model_base.ModelType.EPS, device=device,
                         unet_model=unet_model or NegatedUNetModel)


class NegatedOutputSDXL(comfy.model_base.SDXL, NegatedOutputModel):
    """comfy.model_base.SDXL (text_time conditioning) around NegatedUNetModel."""


MODEL_CLASSES = {("sd15", False): comfy.model_base.BaseModel, ("sd15", True): NegatedOutputModel,
                 ("sdxl", False): comfy.model_base.SDXL, ("sdxl", True): NegatedOutputSDXL}


class ReflowSD15(comfy.supported_models.SD15):
    """ComfyUI's SD1.5 config (latent format, CLIP handling) with the checkpoint's own heads (no fixed extras)."""
    unet_extra_config = {}


class ReflowSDXL(comfy.supported_models.SDXL):
    """ComfyUI's SDXL config (latent format, text_time adm) with the checkpoint's own heads."""
    unet_extra_config = {}


MODEL_CONFIGS = {"sd15": ReflowSD15, "sdxl": ReflowSDXL}


def flow_model_sampling(model_config) -> torch.nn.Module:
    """ComfyUI's flow sampling (CONST, ModelSamplingDiscreteFlow): x = (1 - sigma) x0 + sigma eps, t = 1000 sigma.

    The official InstaFlow / 2-RF loop (Euler on sigma = 1 - i/N, network time 1000 sigma) in ComfyUI's terms."""
    return comfy.model_base.model_sampling(model_config, comfy.model_base.ModelType.FLOW)


def model_type_of(sampling: torch.nn.Module) -> comfy.model_base.ModelType:
    """The ModelType matching a model_sampling object's prediction (what ModelSave and merges read)."""
    if isinstance(sampling, comfy.model_sampling.CONST):
        return comfy.model_base.ModelType.FLOW
    if isinstance(sampling, comfy.model_sampling.V_PREDICTION):
        return comfy.model_base.ModelType.V_PREDICTION
    return comfy.model_base.ModelType.EPS


def read_unet_state_dict(path: Path, *, family_name: str, base: str, input_name: str,
                         variant: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """A diffusers UNet read and mapped to ComfyUI UNetModel keys (no 'diffusion_model.' prefix), with its
    unet_config. Raises ReflowCheckpointError naming `input_name` for anything of the wrong kind."""
    unet = read_diffusers_unet(path, family_name=family_name, base=base, input_name=input_name, variant=variant)
    mapped = comfy_unet_state_dict(unet.state_dict, unet.unet_config, where=unet.where,
                                   expected=expected_layout(family_name, base))
    return mapped, unet.unet_config


def model_config_for(base: str, unet_config: dict, state_dict: dict[str, torch.Tensor]):
    """ComfyUI's SD15/SDXL supported-model config with ComfyUI's dtype choice for this device."""
    config = MODEL_CONFIGS[base](unet_config)
    load_device = comfy.model_management.get_torch_device()
    unet_dtype = comfy.model_management.unet_dtype(model_params=comfy.utils.calculate_parameters(state_dict),
                                                   supported_dtypes=list(config.supported_inference_dtypes),
                                                   weight_dtype=comfy.utils.weight_dtype(state_dict))
    manual_cast = comfy.model_management.unet_manual_cast(unet_dtype, load_device, config.supported_inference_dtypes)
    config.set_inference_dtype(unet_dtype, manual_cast)
    return config


def build_model(model_config, base: str, negate_output: bool, model_sampling_factory: ModelSamplingFactory | None):
    """ComfyUI's BaseModel/SDXL for the config; the factory's model sampling replaces the base's default (EPS)."""
    sampling = model_sampling_factory(model_config) if model_sampling_factory is not None else None
    model_type = model_type_of(sampling) if sampling is not None else comfy.model_base.ModelType.EPS
    model = MODEL_CLASSES[(base, negate_output)](model_config, model_type=model_type,
                                                 device=comfy.model_management.unet_offload_device())
    if sampling is not None:
        model.model_sampling = sampling
    return model


def load_sd_unet(path: Path, *, family_name: str, base: str, input_name: str,
                 model_sampling_factory: ModelSamplingFactory | None = None, negate_output: bool = False,
                 variant: str | None = None) -> comfy.model_patcher.ModelPatcher:
    """A ComfyUI MODEL from a diffusers SD1.5/SDXL UNet folder or single .safetensors (diffusers keys).

    model_sampling_factory(model_config) -> model_sampling installs the family's convention (None: the base's
    default, ComfyUI's discrete EPS); negate_output flips the network's output sign (NegatedUNetModel).
    Every tensor must match ComfyUI's UNetModel by name and shape (strict); errors name `input_name`."""
    unet = read_diffusers_unet(path, family_name=family_name, base=base, input_name=input_name, variant=variant)
    expected = expected_layout(family_name, base)
    mapped = comfy_unet_state_dict(unet.state_dict, unet.unet_config, where=unet.where, expected=expected)
    model = build_model(model_config_for(base, unet.unet_config, mapped), base, negate_output, model_sampling_factory)
    key_map = comfy.utils.unet_to_diffusers(unet.unet_config)
    check_state_dict_fits(model.diffusion_model.state_dict(), mapped, where=unet.where, expected=expected,
                          names={v: k for k, v in key_map.items()})
    model.diffusion_model.load_state_dict(mapped, strict=True)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())
