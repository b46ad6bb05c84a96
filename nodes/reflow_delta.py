"""Merge a weight delta into a base UNet MODEL: W = W_base + strength * Delta W, through ComfyUI's patches.

PeRFlow (arXiv 2405.07510) ships its accelerations as such deltas for SD1.5/SDXL bases, and InstaFlow's demo
(arXiv 2309.06380) merges 2-RF deltas into other SD1.5 checkpoints the same way. The delta is a diffusers-keyed UNet
state dict (a folder with diffusion_pytorch_model[.variant].safetensors, or one .safetensors); its keys are mapped
with the base MODEL's own layout (comfy.utils.unet_to_diffusers) and must cover the base UNet exactly, each
tensor of the base's shape: a delta for another base is refused, never merged in part.
"""
from __future__ import annotations

from pathlib import Path

import torch
from comfy_api.latest import io

import comfy.model_patcher
import comfy.utils

from .errors import quoted
from .reflow_files import unet_names, unet_path
from .reflow_loaders import CATEGORY
from .reflow_unet_config import ReflowCheckpointError
from .reflow_unet_read import (PICKLE_SUFFIXES, check_key_layout, check_state_dict_fits, check_variant,
                               display_name, folder_weights, pickle_refusal, read_safetensors)
from .validation import RectiFlowNode, check_finite

PREFIX = "diffusion_model."
EXPECTED_DELTA = ("expected a delta for this base model: a diffusers-keyed UNet state dict (conv_in.weight, "
                  "down_blocks.*, mid_block.*, up_blocks.*) with exactly the base UNet's tensors and shapes")


def read_delta(path: Path, variant: str | None, input_name: str) -> dict[str, torch.Tensor]:
    """The diffusers-keyed tensors of a delta folder or .safetensors file (safetensors only)."""
    where = f"{input_name}: {display_name(path)}"
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise pickle_refusal(where, path.name)
    if path.is_dir():
        tensors = folder_weights(path, check_variant(variant), where)
    elif path.is_file() and path.suffix.lower() == ".safetensors":
        tensors = read_safetensors(path, where)
    else:
        raise ReflowCheckpointError(f"{where} is not a .safetensors file or diffusers folder; {EXPECTED_DELTA}")
    check_key_layout(list(tensors), where, EXPECTED_DELTA)
    return tensors


def delta_patches(model: comfy.model_patcher.ModelPatcher, delta: dict[str, torch.Tensor],
                  where: str) -> dict[str, torch.Tensor]:
    """Delta tensors keyed like the base MODEL's state dict ('diffusion_model.<ComfyUI key>'), checked to fit."""
    key_map = comfy.utils.unet_to_diffusers(model.model.model_config.unet_config)
    if not key_map:
        raise ValueError(f"model: expected an SD/SDXL UNet MODEL to merge a UNet delta into; got a "
                         f"{type(model.model).__name__} model")
    unknown = sorted(k for k in delta if k not in key_map)
    if unknown:
        raise ReflowCheckpointError(f"{where}: {len(unknown)} tensor(s) this base UNet does not have, e.g. "
                                    f"{quoted(unknown[:3])}; {EXPECTED_DELTA}")
    patches = {PREFIX + key_map[k]: t for k, t in delta.items()}
    target = {k: v for k, v in model.model.state_dict().items() if k.startswith(PREFIX)}
    names = {PREFIX + v: k for k, v in key_map.items()}
    check_state_dict_fits(target, patches, where=where, expected=EXPECTED_DELTA, names=names)
    return patches


def merge_delta(model: comfy.model_patcher.ModelPatcher, delta: dict[str, torch.Tensor], strength: float,
                where: str) -> comfy.model_patcher.ModelPatcher:
    """A clone of `model` with W + strength * Delta W on every UNet weight (ComfyUI 'diff' patches)."""
    patches = delta_patches(model, delta, where)
    merged = model.clone()
    merged.add_patches({k: (t,) for k, t in patches.items()}, strength_patch=strength, strength_model=1.0)
    return merged


class MergeDelta(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowMergeDelta",
            display_name="RectiFlow Merge Delta",
            category=CATEGORY,
            description="Adds a UNet weight delta to a base MODEL: W = W_base + strength * Delta W (PeRFlow, "
                        "arXiv 2405.07510, ships its accelerations for SD1.5/SDXL bases this way; 2-RF deltas merge "
                        "the same way). Uses ComfyUI's patch mechanism, like its LoRA and model-merge nodes.",
            inputs=[
                io.Model.Input("model", tooltip="Base UNet MODEL (e.g. Load Checkpoint of the SD1.5/SDXL base the "
                                                "delta was made for)."),
                io.Combo.Input("delta", options=unet_names(),
                               tooltip="The delta: a diffusers-keyed .safetensors in models/diffusion_models/ or a "
                                       "diffusers folder in models/diffusers/ (listed as '[diffusers] <folder>'). "
                                       "It must hold exactly the base UNet's tensors and shapes."),
                io.String.Input("variant", default="",
                                tooltip="Weights variant of a diffusers delta folder (e.g. fp16); empty for the "
                                        "plain file. Ignored for single files."),
                io.Float.Input("strength", default=1.0, min=-10.0, max=10.0, step=0.01,
                               tooltip="Scale of the delta: 1 applies it fully (W_base + Delta W), 0 leaves the "
                                       "base unchanged."),
            ],
            outputs=[io.Model.Output(tooltip="The base MODEL with the delta merged (sampling unchanged: add the "
                                             "family's sampling node if the delta changes it).")],
        )

    @classmethod
    def execute(cls, model, delta: str, strength: float = 1.0, variant: str = "") -> io.NodeOutput:
        check_finite(strength=strength)
        variant = check_variant(variant)
        path = unet_path(delta, "delta")
        tensors = read_delta(path, variant if path.is_dir() else None, "delta")
        return io.NodeOutput(merge_delta(model, tensors, strength, f"delta: {display_name(path)}"))


DELTA_NODES = [MergeDelta]
