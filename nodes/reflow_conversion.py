"""Presets for rectified-flow conversions of ordinary SD/SDXL checkpoints (NoobAI-RF, nyaflow-xl).

Such checkpoints keep the SDXL file layout, so ComfyUI's Load Checkpoint reads them as EPS models; they were trained
with the SD3 flow objective (Rectified Flow, arXiv 2209.03003; SD3, arXiv 2403.03206): x = (1 - sigma) x0 +
sigma eps, network time 1000 sigma, target eps - x0, which is ComfyUI's CONST with multiplier 1000
(what its ModelSamplingSD3 node installs). The preset installs that sampling with the model's shift.

Sources of the preset values (checked 2026-11-29):
- nyaflow-xl (huggingface.co/nyanko7/nyaflow-xl-alpha, MIT): trained with naifu (github.com/Mikubill/naifu,
  modules/train_sdxl_flow.py: sigma = sigmoid(N(0, 1)), timesteps = 1000 sigma, noisy = sigma noise +
  (1 - sigma) latents, target noise - latents). The model card gives no inference shift; the preset uses 1.0,
  the trainer's unshifted logit-normal timesteps (unconfirmed as a recommendation: the tooltip says so).
- NoobAI-RF (huggingface.co/CabalResearch/NoobAI-RectifiedFlow-Experimental, fair-ai-public-license-1.0-sd):
  its authors' model cards for their RF releases (civitai.com/models/2363696, "no difference in setup" from
  the NoobAI RF release) recommend "SD3 sampling node", Euler, 20-28 steps, CFG 3-6, shift 3-8; the preset
  uses shift 3.0 (the low end, and ModelSamplingSD3's default).
"""
from __future__ import annotations

from dataclasses import dataclass

from comfy_api.latest import io

import comfy.model_base
import comfy.model_patcher

from .reflow_loaders import CATEGORY
from .validation import RectiFlowNode, check_finite, check_option

FLOW_MULTIPLIER = 1000   # network time = 1000 sigma (SD3 / naifu convention)


@dataclass(frozen=True)
class RFConversion:
    label: str
    shift: float
    settings: str
    confirmed: bool


PRESETS = {
    "noobai-rf": RFConversion("NoobAI-RF (SDXL)", 3.0, "euler, 20-28 steps, cfg 3-6, shift 3-8 (model card)", True),
    "nyaflow-xl": RFConversion("nyaflow-xl alpha (SDXL)", 1.0,
                               "euler; shift not published: 1.0 matches its trainer's unshifted timesteps", False),
    "custom": RFConversion("any SD3-convention RF conversion", 3.0, "the shift input below", True),
}


def preset_tooltip() -> str:
    return " ".join(f"{name}: {p.label}, shift {p.shift if name != 'custom' else 'from the shift input'}"
                    f"{'' if p.confirmed else ' (unconfirmed default)'}; {p.settings}." for name, p in PRESETS.items())


def check_sdxl_unet(model: comfy.model_patcher.ModelPatcher, preset: str) -> None:
    """Refuse a MODEL that is not an SD/SDXL UNet (the presets' checkpoints are SDXL)."""
    base = model.model
    if preset != "custom" and not isinstance(base, comfy.model_base.SDXL):
        raise ValueError(f"model: the {preset} preset expects an SDXL checkpoint's MODEL (Load Checkpoint); got a "
                         f"{type(base).__name__} model")
    if "num_res_blocks" not in base.model_config.unet_config:
        raise ValueError(f"model: expected an SD/SDXL UNet MODEL for an RF conversion; got a {type(base).__name__} "
                         "model")


def rf_conversion(model: comfy.model_patcher.ModelPatcher, shift: float) -> comfy.model_patcher.ModelPatcher:
    """A clone whose model sampling is ComfyUI's CONST flow with multiplier 1000 and `shift`."""
    sampling = comfy.model_base.model_sampling(model.model.model_config, comfy.model_base.ModelType.FLOW)
    sampling.set_parameters(shift=shift, multiplier=FLOW_MULTIPLIER)
    patched = model.clone()
    patched.add_object_patch("model_sampling", sampling)
    return patched


class RFConversionPreset(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowRFConversion",
            display_name="RectiFlow RF Conversion Preset",
            category=CATEGORY,
            description="Marks an SD/SDXL checkpoint converted to rectified flow (NoobAI-RF, nyaflow-xl) as a "
                        "ComfyUI flow model: CONST sampling, network time 1000 sigma, with the model's shift "
                        "(as ModelSamplingSD3). Load the checkpoint with Load Checkpoint first.",
            inputs=[
                io.Model.Input("model", tooltip="The MODEL output of Load Checkpoint for the RF-converted checkpoint."),
                io.Combo.Input("preset", options=list(PRESETS), default="noobai-rf", tooltip=preset_tooltip()),
                io.Float.Input("shift", default=3.0, min=0.01, max=100.0, step=0.01,
                               tooltip="Timestep shift for the 'custom' preset (SD3 shift: sigma' = s sigma / "
                                       "(1 + (s - 1) sigma)); the named presets use their own value."),
            ],
            outputs=[io.Model.Output(tooltip="Flow (CONST) MODEL for KSampler or RectiFlow's samplers.")],
        )

    @classmethod
    def execute(cls, model, preset: str, shift: float = 3.0) -> io.NodeOutput:
        check_option("preset", preset, PRESETS)
        check_finite(shift=shift)
        check_sdxl_unet(model, preset)
        return io.NodeOutput(rf_conversion(model, shift if preset == "custom" else PRESETS[preset].shift))


CONVERSION_NODES = [RFConversionPreset]
