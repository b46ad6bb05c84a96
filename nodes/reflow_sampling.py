"""ComfyUI model samplings that make stock samplers reproduce the official loops of PeRFlow and Rectified Diffusion.

PeRFlow (arXiv 2405.07510): ComfyUI's sigma is PeRFlow's time t, the state is not rescaled, and calculate_denoised
returns x - t v with PeRFlow's windowed velocity v, so ComfyUI's Euler x + (x - x0_hat) / sigma (sigma' - sigma) is
PeRFlowScheduler.step's x + (t' - t) v.

Rectified Diffusion (arXiv 2410.07303): an eps model on diffusers' own betas (its "linear" is not ComfyUI's); Euler
over its VE sigmas is DDIM with eta 0, and the run ends VP-scaled at the final alpha, as diffusers' DDIM returns it.
"""
from __future__ import annotations

import functools

import torch

import comfy.model_sampling

from ..samplers.reflow_distilled import (
    BETA_END, BETA_SCHEDULES, BETA_START, PERFLOW_PREDICTIONS, PERFLOW_WINDOWS, TRAIN_TIMESTEPS,
    diffusers_alphas_cumprod, diffusers_betas, perflow_velocity,
)
from .velocity_flow import VelocityFlowSampling


class PeRFlowSampling(comfy.model_sampling.ModelSamplingDiscreteFlow, VelocityFlowSampling):
    """sigma = PeRFlow time t in [0, 1]; the network gets timestep 1000 t and predicts PeRFlow's eps ("diff_eps"
    for SD1.5, "ddim_eps" for SDXL), turned into the window velocity on diffusers' scaled_linear alpha_bar. Its
    velocity at t = 0 needs the network (the last window ends on the VP state at alpha_bar_0), not -x."""

    velocity_at_zero_is_minus_x = False

    def __init__(self, model_config=None, prediction: str = "diff_eps", num_windows: int = PERFLOW_WINDOWS):
        super().__init__(model_config)              # SD configs set no shift / multiplier: 1 and 1000
        if prediction not in PERFLOW_PREDICTIONS:
            raise ValueError(f"prediction: expected one of {list(PERFLOW_PREDICTIONS)}, got {prediction!r}")
        self.prediction = prediction
        self.num_windows = num_windows
        self.perflow_alphas_cumprod = diffusers_alphas_cumprod("scaled_linear")   # moved to sigma's device per call

    def calculate_denoised(self, sigma, model_output, model_input):
        velocity = perflow_velocity(model_output.float(), model_input.float(), sigma, self.prediction,
                                    self.perflow_alphas_cumprod, self.num_windows)
        sigma = comfy.model_sampling.reshape_sigma(sigma, model_output.ndim)
        return model_input - sigma * velocity


class DiffusersEpsSampling(comfy.model_sampling.ModelSamplingDiscrete, comfy.model_sampling.EPS):
    """ComfyUI's discrete eps sampling on diffusers' betas ("linear": linspace(0.00085, 0.012), what ComfyUI
    names "sqrt_linear"; "scaled_linear": ComfyUI's "linear"), whose run ends VP-scaled: a run stopped at
    sigma > 0 returns x sqrt(alpha_bar) = x / sqrt(1 + sigma^2), the state diffusers' DDIM returns there (ComfyUI's
    EPS keeps x = x0 + sigma eps). A run ending at sigma 0, as ComfyUI's schedulers do, is unchanged."""

    def __init__(self, model_config=None, zsnr=None, beta_schedule: str = "linear"):
        super().__init__(model_config, zsnr=zsnr)
        self.beta_schedule = beta_schedule
        self._register_schedule(given_betas=diffusers_betas(beta_schedule), beta_schedule=beta_schedule,
                                timesteps=TRAIN_TIMESTEPS, linear_start=BETA_START, linear_end=BETA_END,
                                zsnr=self.zsnr)

    def inverse_noise_scaling(self, sigma, latent):
        sigma = comfy.model_sampling.reshape_sigma(torch.as_tensor(sigma, device=latent.device), latent.ndim)
        return latent / (1.0 + sigma.to(latent.dtype) ** 2) ** 0.5


def perflow_sampling_factory(prediction: str):
    """model_config -> PeRFlowSampling with the given eps parameterisation."""
    return functools.partial(PeRFlowSampling, prediction=prediction)


def diffusers_eps_sampling_factory(beta_schedule: str):
    """model_config -> DiffusersEpsSampling on diffusers' `beta_schedule` ("linear" or "scaled_linear")."""
    if beta_schedule not in BETA_SCHEDULES:
        raise ValueError(f"beta_schedule: expected one of {list(BETA_SCHEDULES)}, got {beta_schedule!r}")
    return functools.partial(DiffusersEpsSampling, beta_schedule=beta_schedule)
