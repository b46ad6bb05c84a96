"""Bridges between the ComfyUI versions RectiFlow supports: 0.3.75 (the test host) to 0.38.x (upstream).

Each function names the versions it bridges and what changed. Everything else RectiFlow uses from ComfyUI has the
same signature in both versions; tests/unit/test_comfy_surface.py lists it and checks it against the installed host.
"""
from __future__ import annotations

import inspect

import torch

import comfy.model_sampling
import comfy.sample

from .velocity_flow import VelocityFlowSampling

# LATENT dict keys that ComfyUI 0.38's SamplerCustomAdvanced hands to fix_empty_latent_channels (same names there)
LATENT_RATIO_KEYS = ("downscale_ratio_spacial", "downscale_ratio_temporal")


def const_noise_scale(model_sampling) -> float:
    """The factor CONST.noise_scaling puts on the noise: x_sigma = sigma * (s * noise) + (1 - sigma) * latent.

    ComfyUI 0.38 reads s from `model_sampling.noise_scale` (ModelSamplingDiscreteFlow.set_noise_scale, from the
    model config's sampling_settings["noise_scale"], default 1.0); ComfyUI 0.3.75 has no such attribute: s = 1."""
    return float(getattr(model_sampling, "noise_scale", 1.0))


def noise_for_start(model_sampling, start: torch.Tensor, latent: torch.Tensor | float, sigma: float) -> torch.Tensor:
    """The noise that the model's CONST.noise_scaling(sigma, noise, latent) turns into `start` (0 < sigma <= 1):
    (start - (1 - sigma) latent) / (sigma s), with s = const_noise_scale (ComfyUI 0.3.75: s = 1; 0.38: noise_scale)."""
    if not 0.0 < sigma <= 1.0:
        raise ValueError(f"sigma: expected 0 < sigma <= 1 to start a flow run from, got {sigma!r}")
    return (start - (1.0 - sigma) * latent) / (sigma * const_noise_scale(model_sampling))


def is_velocity_flow(model_sampling) -> bool:
    """True for ComfyUI's flow convention where x - x0_hat = sigma v: CONST's own x0 = x - sigma * output, or a
    RectiFlow VelocityFlowSampling whose calculate_denoised (defined on a VelocityFlowSampling class) computes v.

    ComfyUI 0.38 added CONST subclasses that are not flows in that sense: IMG_TO_IMG_FLOW (x0_hat = output) and
    IMG_TO_IMG_VELOCITY (x0_hat = x - output); an isinstance(CONST) test accepts them. ComfyUI 0.3.75 has no CONST
    subclass, so there both tests agree."""
    const = comfy.model_sampling.CONST
    if not isinstance(model_sampling, const):
        return False
    owner = next(klass for klass in type(model_sampling).__mro__ if "calculate_denoised" in vars(klass))
    return owner is const or issubclass(owner, VelocityFlowSampling)


def fix_empty_latent(model_patcher, latent: dict) -> torch.Tensor:
    """comfy.sample.fix_empty_latent_channels on a LATENT dict, as SamplerCustomAdvanced calls it.

    ComfyUI 0.3.75: fix_empty_latent_channels(model, latent_image). ComfyUI 0.38 adds downscale_ratio_spacial and
    downscale_ratio_temporal (resizing an empty latent made for another VAE ratio), read from the LATENT dict; they
    are passed only where the installed function takes them."""
    fix = comfy.sample.fix_empty_latent_channels
    accepted = inspect.signature(fix).parameters
    ratios = {key: latent.get(key) for key in LATENT_RATIO_KEYS if key in accepted}
    return fix(model_patcher, latent["samples"], **ratios)
