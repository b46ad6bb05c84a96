"""Inversion: integrate the flow ODE from a clean latent (sigma 0) to noise with any RectiFlow SAMPLER."""
from __future__ import annotations

import copy

import torch
from comfy_api.latest import io

import comfy.model_management
import comfy.utils
import latent_preview

from ..samplers import schedules
from .comfy_compat import fix_empty_latent, noise_for_start
from .flow_models import is_flow_model
from .samplers import is_rectiflow_sampler
from .validation import RectiFlowNode

CATEGORY = "sampling/rectiflow/inversion"


def model_without_inverse_scaling(model_patcher):
    """Clone whose model_sampling keeps latents as they are at the end of a run (CONST divides by 1 - sigma)."""
    clone = model_patcher.clone()
    sampling = copy.copy(model_patcher.get_model_object("model_sampling"))
    sampling.inverse_noise_scaling = lambda sigma, latent: latent
    clone.add_object_patch("model_sampling", sampling)
    return clone


def guider_with_model(guider, model_patcher):
    """Shallow copy of any CFGGuider-like guider running on another MODEL clone."""
    clone = copy.copy(guider)
    clone.model_patcher = model_patcher
    clone.model_options = model_patcher.model_options
    return clone


def increasing(sigmas: torch.Tensor) -> torch.Tensor:
    sigmas = schedules.validate_sigmas(sigmas, "sigmas")
    return sigmas if sigmas[-1] > sigmas[0] else sigmas.flip(0)


def check_inverting_sampler(sampler) -> None:
    """ComfyUI's own samplers cannot start a run at sigma 0 (their first step divides by it): refuse them up front."""
    if not is_rectiflow_sampler(sampler):
        raise ValueError("sampler: RectiFlow Invert needs a RectiFlow sampler (RectiFlow Sampler Euler, RectiFlow "
                         "Sampler Select or RectiFlow Sampler Adaptive); ComfyUI's own samplers (KSamplerSelect) "
                         "divide by sigma = 0 at the start of an inversion and return NaN")


def check_flow_model(model_patcher, input_name: str) -> None:
    if not is_flow_model(model_patcher):
        raise ValueError(f"{input_name}: expected a flow (CONST) model such as SD3, Flux or the digits model; "
                         "this model predicts eps or v-diffusion, which RectiFlow's flow nodes do not support")


class InvertedNoise:
    """NOISE that makes ComfyUI's noise scaling, sigma * s * noise + (1 - sigma) * latent, start a run exactly at
    the inverted state: noise = (x_inv - (1 - sigma) * latent) / (sigma * s) in the model's latent space, with s
    the model's noise scale (1 before ComfyUI 0.38)."""

    def __init__(self, inverted: torch.Tensor, sigma: float, process_latent_in, model_sampling):
        self.seed = 0
        self.inverted = inverted
        self.sigma = float(sigma)
        self.process_latent_in = process_latent_in
        self.model_sampling = model_sampling

    def generate_noise(self, input_latent: dict) -> torch.Tensor:
        latent = input_latent["samples"]
        if latent.shape != self.inverted.shape:
            raise ValueError(f"latent_image: expected the shape of the inverted latent {list(self.inverted.shape)}, "
                             f"got {list(latent.shape)}")
        x = self.process_latent_in(self.inverted.float())
        base = self.process_latent_in(latent.float()) if torch.count_nonzero(latent) > 0 else latent.float()
        return noise_for_start(self.model_sampling, x, base, min(self.sigma, 1.0)).cpu()


class Invert(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowInvert",
            display_name="RectiFlow Invert (latent to noise)",
            category=CATEGORY,
            description="Integrates the flow ODE from the image (sigma 0) towards noise with any RectiFlow SAMPLER. "
                        "Plug `noise` into SamplerCustomAdvanced with the same sigmas (decreasing) to reconstruct "
                        "or edit.",
            inputs=[
                io.Guider.Input("guider", tooltip="Guider to invert with (BasicGuider or CFGGuider at cfg 1 invert "
                                                  "most faithfully)."),
                io.Sampler.Input("sampler", tooltip="A RectiFlow sampler (Euler, Select or Adaptive; not SDE); "
                                                  "ComfyUI's own samplers cannot start at sigma 0 and are refused."),
                io.Sigmas.Input("sigmas", tooltip="Schedule; a decreasing one is flipped to run 0 -> its largest sigma."),
                io.Latent.Input("latent_image", tooltip="Clean latent to invert."),
            ],
            outputs=[io.Latent.Output(display_name="inverted", tooltip="The latent at the largest sigma."),
                     io.Noise.Output(display_name="noise",
                                     tooltip="NOISE for SamplerCustomAdvanced that starts exactly at `inverted`.")],
        )

    @classmethod
    def execute(cls, guider, sampler, sigmas, latent_image) -> io.NodeOutput:
        check_flow_model(guider.model_patcher, "guider")
        check_inverting_sampler(sampler)
        sigmas = increasing(sigmas)
        latent = fix_empty_latent(guider.model_patcher, latent_image)
        inverting = guider_with_model(guider, model_without_inverse_scaling(guider.model_patcher))
        callback = latent_preview.prepare_callback(guider.model_patcher, len(sigmas) - 1)
        inverted = inverting.sample(torch.zeros_like(latent), latent, sampler, sigmas,
                                    denoise_mask=latent_image.get("noise_mask"), callback=callback,
                                    disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=0)
        inverted = inverted.to(comfy.model_management.intermediate_device())
        out = {k: v for k, v in latent_image.items() if k != "noise_mask"}
        out["samples"] = inverted
        patcher = guider.model_patcher
        noise = InvertedNoise(inverted, float(sigmas[-1]), patcher.get_model_object("process_latent_in"),
                              patcher.get_model_object("model_sampling"))
        return io.NodeOutput(out, noise)


INVERSION_NODES = [Invert]
