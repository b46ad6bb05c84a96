"""Analytic Gaussian-mixture flows wrapped as real ComfyUI flow MODELs (CONST sampling, t = 1000 sigma).

The network returns the exact marginal velocity E[eps - x0 | x_sigma] of tests/analytic_flows.GaussianMixtureFlow,
computed in float64 and returned as float32; ComfyUI's CONST model sampling turns it into x0_hat = x - sigma v.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from analytic_flows import GaussianMixtureFlow, four_mode_mixture  # tests/ is on sys.path (bench/solvers.py)


@dataclass(frozen=True)
class AnalyticCase:
    """One benchmark shape: the mixture, the latent shape of one sample, and a short name."""
    name: str
    flow: GaussianMixtureFlow
    sample_shape: tuple[int, ...]  # [C, H, W]
    batch: int


def latent_mixture(channels: int = 4, size: int = 32, modes: int = 8, seed: int = 0) -> GaussianMixtureFlow:
    """8 smooth latent-like modes in C x H x W: low-frequency random fields of unit RMS, component std 0.5."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.randn(modes, channels, 4, 4, generator=gen, dtype=torch.float64)
    fields = torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=False)
    fields = fields / fields.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    return GaussianMixtureFlow(fields.flatten(1), std=0.5)


def analytic_cases(points_2d: int, latents: int) -> list[AnalyticCase]:
    return [AnalyticCase("2d", four_mode_mixture(), (2, 1, 1), points_2d),
            AnalyticCase("latent4x32x32", latent_mixture(), (4, 32, 32), latents)]


class ExactVelocityNet(torch.nn.Module):
    """ComfyUI diffusion_model: x [B, C, H, W], timesteps = 1000 sigma -> exact velocity (float64 inside)."""

    def __init__(self, flow: GaussianMixtureFlow, dtype=None, **_config):
        super().__init__()
        self.flow = flow
        self.dtype = torch.float32

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context=None, **_kwargs) -> torch.Tensor:
        return self.flow.velocity(x.double(), timesteps.double() / 1000).to(x.dtype)


def analytic_model(case: AnalyticCase):
    """A ComfyUI ModelPatcher (flow, CONST, shift 1, multiplier 1000) whose network is the exact velocity."""
    from comfy_host import pack_module

    flow_models = pack_module("nodes.flow_models")
    return flow_models.flow_model_patcher(functools.partial(ExactVelocityNet, case.flow), {},
                                          flow_models.plain_latent_format(case.sample_shape[0]),
                                          memory_usage_factor=0.01)


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


def data_samples(case: AnalyticCase, seed: int) -> torch.Tensor:
    """Exact samples of the mixture [batch, C, H, W] in float32, for inversion round trips."""
    gen = torch.Generator().manual_seed(seed)
    return case.flow.sample(case.batch, gen).float().reshape(case.batch, *case.sample_shape)


def reference_solution(case: AnalyticCase, noise: torch.Tensor, steps_per_unit: int = 1000) -> torch.Tensor:
    """Float64 RK4 solve of the exact probability-flow ODE from noise at sigma 1 to data at sigma 0."""
    flat = noise.double().reshape(noise.shape[0], -1)
    return case.flow.reference_solve(flat, 1.0, 0.0, steps_per_unit).reshape(noise.shape)
