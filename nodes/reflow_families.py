"""Loader and model-sampling nodes for PeRFlow (arXiv 2405.07510) and Rectified Diffusion (arXiv 2410.07303).

Both ship Stable Diffusion 1.5 / XL UNets in diffusers keys; what makes them differ from their base is how they
are sampled, which the model sampling installed here reproduces with ComfyUI's own samplers (reflow_sampling.py):
PeRFlow with euler on RectiFlow PeRFlow Schedule, Rectified Diffusion with ddim on RectiFlow Trailing DDIM Schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

from comfy_api.latest import io

import comfy.model_patcher
import comfy.utils

from .reflow_files import unet_input, unet_path
from .reflow_loaders import CATEGORY
from .reflow_sampling import diffusers_eps_sampling_factory, perflow_sampling_factory
from .reflow_unet import load_sd_unet
from .reflow_unet_read import check_variant
from .validation import RectiFlowNode, check_option

PERFLOW_PREDICTION = {"sd15": "diff_eps", "sdxl": "ddim_eps"}   # the official pipelines' prediction_type
PERFLOW_SOURCE = ("huggingface.co/hansyan: perflow-sd15-dreamshaper, perflow-sd15-realisticVisionV51, "
                  "perflow-sd15-disney, perflow-sdxl-base, perflow-sdxl-dreamshaper (diffusers pipelines; pick the "
                  "unet/ folder, variant e.g. v0-1 / v0-fix) and perflow-sd15-delta-weights (a UNet delta for "
                  "RectiFlow Merge Delta)")
PERFLOW_LICENCE = ("Licence: code BSD-3-Clause (magic-research/piecewise-rectified-flow); weights: see their model "
                   "card (derived from SD1.5 / SDXL, CreativeML Open RAIL-M / RAIL++-M)")


@dataclass(frozen=True)
class RDCheckpoint:
    """One Rectified Diffusion release (huggingface.co/wangfuyun/Rectified-Diffusion weights/<name>.ckpt)."""
    base: str
    beta_schedule: str     # diffusers' name, as generate_5k.py configures DDIMScheduler
    settings: str


RD_CHECKPOINTS = {
    "rd": RDCheckpoint("sd15", "linear", "1-2 steps (up to 25), cfg 1.5"),
    "cm": RDCheckpoint("sd15", "linear", "1-2 steps, cfg 1 (no negative prompt)"),
    "phased": RDCheckpoint("sd15", "scaled_linear", "4 steps, cfg 1.5"),
    "phasedxl": RDCheckpoint("sdxl", "scaled_linear", "4 steps, cfg 1.5, 1024x1024"),
}
RD_SOURCE = "huggingface.co/wangfuyun/Rectified-Diffusion weights/{rd,cm,phased,phasedxl}.ckpt"
RD_LICENCE = ("Licence: G-U-N/Rectified-Diffusion has no LICENSE file; weights: see their model card (derived from "
              "SD1.5 / SDXL, CreativeML Open RAIL-M / RAIL++-M)")
SAMPLINGS = {
    "perflow_sd15": perflow_sampling_factory("diff_eps"),
    "perflow_sdxl": perflow_sampling_factory("ddim_eps"),
    "rectified_diffusion_linear": diffusers_eps_sampling_factory("linear"),
    "rectified_diffusion_scaled_linear": diffusers_eps_sampling_factory("scaled_linear"),
}


class LoadPeRFlow(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowLoadPeRFlow",
            display_name="RectiFlow Load PeRFlow UNet",
            category=CATEGORY,
            description="Loads a PeRFlow (piecewise rectified flow, arXiv 2405.07510) SD1.5 or SDXL UNet as a flow "
                        "MODEL whose sigma is PeRFlow's time: ComfyUI's euler on RectiFlow PeRFlow Schedule is the "
                        "official sampler (SD1.5: 4-8 steps, cfg 4.5-7.5; SDXL: 6 steps, cfg 2). Use the base's CLIP "
                        "and VAE. For the delta weights: Load Checkpoint (your SD1.5 base) -> RectiFlow Merge Delta "
                        f"-> RectiFlow Reflow Model Sampling (perflow_sd15). From {PERFLOW_SOURCE}. {PERFLOW_LICENCE}.",
            inputs=[
                io.Combo.Input("base", options=list(PERFLOW_PREDICTION), default="sd15",
                               tooltip="sd15: SD1.5 UNet, PeRFlow's diff_eps output; sdxl: SDXL UNet, ddim_eps."),
                unet_input("The PeRFlow UNet"),
                io.String.Input("variant", default="", tooltip="Weights variant of a diffusers folder: empty for "
                                "diffusion_pytorch_model.safetensors, v0-1 for diffusion_pytorch_model.v0-1."
                                "safetensors (PeRFlow's releases), fp16, .... Ignored for single files."),
            ],
            outputs=[io.Model.Output(tooltip="Flow MODEL (PeRFlow velocity); ComfyUI's euler and RectiFlow's flow "
                                             "samplers run it.")],
        )

    @classmethod
    def execute(cls, base: str, unet: str, variant: str = "") -> io.NodeOutput:
        base = check_option("base", base, PERFLOW_PREDICTION)
        variant = check_variant(variant)
        path = unet_path(unet, "unet")
        return io.NodeOutput(load_sd_unet(
            path, family_name="PeRFlow", base=base, input_name="unet", variant=variant if path.is_dir() else None,
            model_sampling_factory=perflow_sampling_factory(PERFLOW_PREDICTION[base])))


def rd_tooltip() -> str:
    return " ".join(f"{name}: {spec.base.upper()} UNet, diffusers '{spec.beta_schedule}' betas, {spec.settings}."
                    for name, spec in RD_CHECKPOINTS.items())


class LoadRectifiedDiffusion(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowLoadRectifiedDiffusion",
            display_name="RectiFlow Load Rectified Diffusion UNet",
            category=CATEGORY,
            description="Loads a Rectified Diffusion (arXiv 2410.07303) UNet as an eps MODEL on the betas it was "
                        "trained with (rd and cm: diffusers' 'linear', which ComfyUI's 'linear' is not). Sample with "
                        "ComfyUI's ddim (or euler) on RectiFlow Trailing DDIM Schedule: the official DDIM loop "
                        f"(trailing timesteps, eta 0). Weights: {RD_SOURCE}, pickles: convert each with "
                        f"rectiflow-convert-ckpt to .safetensors first. {RD_LICENCE}.",
            inputs=[
                io.Combo.Input("checkpoint", options=list(RD_CHECKPOINTS), default="rd", tooltip=rd_tooltip()),
                unet_input("The Rectified Diffusion UNet (rd/cm/phased/phasedxl.safetensors after conversion)"),
            ],
            outputs=[io.Model.Output(tooltip="Eps MODEL on the checkpoint's betas; its run ends VP-scaled like "
                                             "diffusers' DDIM when the schedule stops above sigma 0.")],
        )

    @classmethod
    def execute(cls, checkpoint: str, unet: str) -> io.NodeOutput:
        spec = RD_CHECKPOINTS[check_option("checkpoint", checkpoint, RD_CHECKPOINTS)]
        return io.NodeOutput(load_sd_unet(
            unet_path(unet, "unet"), family_name=f"Rectified Diffusion ({checkpoint})", base=spec.base,
            input_name="unet", model_sampling_factory=diffusers_eps_sampling_factory(spec.beta_schedule)))


def with_sampling(model: comfy.model_patcher.ModelPatcher, kind: str) -> comfy.model_patcher.ModelPatcher:
    """A clone of an SD1.5/SDXL MODEL whose model_sampling is `kind`'s (ComfyUI's ModelSamplingDiscrete node way)."""
    if not hasattr(model.model, "model_config") or not comfy.utils.unet_to_diffusers(
            model.model.model_config.unet_config):
        raise ValueError(f"model: expected an SD1.5/SDXL UNet MODEL, got a {type(model.model).__name__} model")
    clone = model.clone()
    clone.add_object_patch("model_sampling", SAMPLINGS[kind](model.model.model_config))
    return clone


class ReflowModelSampling(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowReflowModelSampling",
            display_name="RectiFlow Reflow Model Sampling",
            category=CATEGORY,
            description="Gives an SD1.5/SDXL MODEL loaded another way (Load Checkpoint + RectiFlow Merge Delta of "
                        "PeRFlow's delta weights, a converted single-file checkpoint) PeRFlow's or Rectified "
                        "Diffusion's sampling, as the RectiFlow Load PeRFlow / Rectified Diffusion nodes install it.",
            inputs=[
                io.Model.Input("model", tooltip="SD1.5 or SDXL UNet MODEL holding PeRFlow / Rectified Diffusion "
                                                "weights."),
                io.Combo.Input("sampling", options=list(SAMPLINGS), default="perflow_sd15",
                               tooltip="perflow_sd15 / perflow_sdxl: PeRFlow's windowed velocity (diff_eps / "
                                       "ddim_eps), a flow model for euler on RectiFlow PeRFlow Schedule. "
                                       "rectified_diffusion_linear (rd, cm) / _scaled_linear (phased, phasedxl): eps "
                                       "on diffusers' betas, for ddim on RectiFlow Trailing DDIM Schedule."),
            ],
            outputs=[io.Model.Output(tooltip="The model with the chosen sampling (weights and patches unchanged).")],
        )

    @classmethod
    def execute(cls, model, sampling: str) -> io.NodeOutput:
        return io.NodeOutput(with_sampling(model, check_option("sampling", sampling, SAMPLINGS)))


FAMILY_NODES = [LoadPeRFlow, LoadRectifiedDiffusion, ReflowModelSampling]
