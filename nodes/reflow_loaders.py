"""Loader nodes for reflow-distilled SD1.5 UNets (InstaFlow, 2-Rectified Flow) and RF-converted SD/SDXL checkpoints.

InstaFlow (arXiv 2309.06380) and 2-Rectified Flow (arXiv 2209.03003) run, in the official code
(github.com/gnobitab/InstaFlow, code/pipeline_rf.py), Euler on sigma = 1 - i/N with network time 1000 sigma and
a velocity pointing from noise to data: ComfyUI's flow (CONST) convention with the output sign flipped, which
the loader puts inside the network (NegatedUNetModel) so ComfyUI's and RectiFlow's samplers both run it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from comfy_api.latest import io

import comfy.model_patcher

from .reflow_files import unet_input, unet_path
from .reflow_unet_read import check_variant
from .reflow_unet import flow_model_sampling, load_sd_unet
from .validation import RectiFlowNode, check_option

CATEGORY = "sampling/rectiflow/loaders"
INSTAFLOW_LICENCE = ("weights CC-BY-NC-4.0 (non-commercial) and the CreativeML Open RAIL-M licence of "
                     "Stable Diffusion 1.5 (InstaFlow code/README.md)")


@dataclass(frozen=True)
class ReflowFamily:
    """A reflow checkpoint family: its base layout, sign and the official sampling settings."""
    label: str
    base: str
    negate_output: bool
    source: str
    settings: str


FAMILIES = {
    "instaflow": ReflowFamily(
        "InstaFlow-0.9B", "sd15", True, "huggingface.co/XCLIU/instaflow_0_9B_from_sd_1_5 (unet/ folder)",
        "1 step, euler, simple schedule (sigmas 1 -> 0), cfg 1 (no negative prompt), as the official pipeline"),
    "2-rectified-flow": ReflowFamily(
        "2-Rectified Flow", "sd15", True, "huggingface.co/XCLIU/2_rectified_flow_from_sd_1_5 (unet/ folder)",
        "2-8 steps, euler, simple schedule, cfg 1-2 (official example: 1.5 with a negative prompt)"),
}


def load_reflow_family(path: Path, family: str, variant: str | None = None,
                       input_name: str = "unet") -> comfy.model_patcher.ModelPatcher:
    """A family's UNet as a ComfyUI flow MODEL: CONST sampling with t = 1000 sigma, output sign per family."""
    spec = FAMILIES[family]
    return load_sd_unet(path, family_name=spec.label, base=spec.base, input_name=input_name,
                        model_sampling_factory=flow_model_sampling, negate_output=spec.negate_output,
                        variant=variant or None)


def family_tooltip() -> str:
    return " ".join(f"{name}: {spec.label} ({spec.base.upper()} UNet) from {spec.source}; sample with {spec.settings}."
                    for name, spec in FAMILIES.items())


class LoadInstaFlow(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowLoadInstaFlow",
            display_name="RectiFlow Load InstaFlow / 2-RF UNet",
            category=CATEGORY,
            description="Loads an InstaFlow (arXiv 2309.06380) or 2-Rectified Flow (arXiv 2209.03003) SD1.5 UNet "
                        "in diffusers format as a ComfyUI flow MODEL (sigma 1 = noise, t = 1000 sigma). Use SD1.5's "
                        "CLIP and VAE (CLIPLoader type stable_diffusion, VAELoader), and KSampler with euler/simple. "
                        f"Licence: {INSTAFLOW_LICENCE}.",
            inputs=[
                io.Combo.Input("family", options=list(FAMILIES), default="instaflow", tooltip=family_tooltip()),
                unet_input("The InstaFlow / 2-RF UNet"),
                io.String.Input("variant", default="",
                                tooltip="Weights variant of a diffusers folder: empty for "
                                        "diffusion_pytorch_model.safetensors, 'fp16' for "
                                        "diffusion_pytorch_model.fp16.safetensors. Ignored for single files."),
            ],
            outputs=[io.Model.Output(tooltip="Flow (CONST) MODEL; KSampler euler/simple reproduces the official "
                                             "Euler loop, and RectiFlow's flow samplers accept it.")],
        )

    @classmethod
    def execute(cls, family: str, unet: str, variant: str = "") -> io.NodeOutput:
        check_option("family", family, FAMILIES)
        variant = check_variant(variant)
        path = unet_path(unet, "unet")
        return io.NodeOutput(load_reflow_family(path, family, variant if path.is_dir() else None))


LOADER_NODES = [LoadInstaFlow]
