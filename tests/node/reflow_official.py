"""The official sampling loops of PeRFlow (arXiv 2405.07510) and Rectified Diffusion (arXiv 2410.07303), written
out independently of the pack from the official code's equations, run on a diffusers UNet2DConditionModel.

PeRFlow: magic-research/piecewise-rectified-flow src/scheduler_perflow.py (set_timesteps, Time_Windows,
get_window_alpha, step) inside diffusers' StableDiffusionPipeline loop. Rectified Diffusion: G-U-N/Rectified-Diffusion
generate_5k.py's DDIMScheduler(beta_start=0.00085, beta_end=0.012, timestep_spacing="trailing", clip_sample=False,
set_alpha_to_one=False, beta_schedule="linear" | "scaled_linear"), eta 0, with DDIMScheduler.step's equations.
No diffusers scheduler is called here.
"""
from __future__ import annotations

import numpy as np
import torch

SDXL_TIME_IDS = 6


def official_alphas_cumprod(beta_schedule: str) -> torch.Tensor:
    if beta_schedule == "linear":
        betas = torch.linspace(0.00085, 0.012, 1000, dtype=torch.float32)
    else:
        betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


# ------------------------------------------------------------------------------------------------ PeRFlow

def official_perflow_timesteps(steps: int, windows: int = 4) -> list[int]:
    """PeRFlowScheduler.set_timesteps (steps >= windows), verbatim in numpy."""
    starts = [1. * i / windows for i in range(1, windows + 1)][::-1]
    ends = starts[1:] + [0]
    parts = []
    for i in range(windows):
        count = steps // windows + 1 if i < steps % windows else steps // windows
        parts.append(np.linspace(starts[i], ends[i], num=count, endpoint=False))
    return (np.concatenate(parts) * 1000).astype(np.int64).tolist()


def official_window(tp: torch.Tensor, windows: int = 4) -> int:
    """Time_Windows.get_window's loop (index of the window holding the float32 time tp)."""
    ends = [1. * i / windows for i in range(1, windows + 1)][::-1][1:] + [0]
    idx = 0
    while (tp - 0.1 * (1. / 1000)) <= ends[idx]:
        idx += 1
    return idx


def official_velocity(eps, x, timestep: int, prediction: str, alphas_cumprod) -> torch.Tensor:
    """PeRFlowScheduler.step's predicted velocity for one integer timestep, its equations in their order."""
    t_c = torch.tensor(timestep) / 1000
    idx = official_window(t_c)
    starts = [1.0, 0.75, 0.5, 0.25, 0.0]
    t_s, t_e = torch.ones_like(t_c) * starts[idx], torch.ones_like(t_c) * starts[idx + 1]
    c_to_s = t_c - t_s
    ac_s = alphas_cumprod[(t_s * 1000 - 1).long()]
    ac_e = alphas_cumprod[torch.clamp((t_e * 1000 - 1).long(), min=0)]
    if prediction == "ddim_eps":
        lambda_s = (ac_e / ac_s) ** 0.5
        eta_s = (1 - ac_e) ** 0.5 - (ac_e / ac_s * (1 - ac_s)) ** 0.5
    else:
        gamma = (ac_s / ac_e) ** 0.5
        lambda_s, eta_s = 1 / gamma, -1 * (1 - gamma ** 2) ** 0.5 / gamma
    lambda_t = (lambda_s * (t_e - t_s)) / (lambda_s * (t_c - t_s) + (t_e - t_c))
    eta_t = (eta_s * (t_e - t_c)) / (lambda_s * (t_c - t_s) + (t_e - t_c))
    return (lambda_t * x + eta_t * eps - x) / (t_e - (t_s + c_to_s))


# ------------------------------------------------------------------------------------------------ network calls

def guided_eps(unet, x, t, cond: torch.Tensor, uncond: torch.Tensor | None, cfg: float, added=None) -> torch.Tensor:
    """StableDiffusion(XL)Pipeline's call: one batch [uncond, cond] when cfg > 1, eps_u + cfg (eps_c - eps_u)."""
    with torch.no_grad():
        if cfg <= 1.0:
            return unet(x, t, encoder_hidden_states=cond, added_cond_kwargs=added(cond=True) if added else None).sample
        both = torch.cat([uncond, cond])
        kwargs = {"added_cond_kwargs": added(cond=None)} if added else {}
        eps_u, eps_c = unet(torch.cat([x, x]), t, encoder_hidden_states=both, **kwargs).sample.chunk(2)
    return eps_u + cfg * (eps_c - eps_u)


def official_perflow_loop(unet, noise, cond, uncond, steps: int, cfg: float, prediction: str, added=None):
    """StableDiffusion(XL)Pipeline with PeRFlowScheduler: latents = noise (init_noise_sigma 1), then per timestep
    x <- x + (t_next - t) / 1000 * v, t_next = the next timestep or 0; returns the final latent (VAE-scaled)."""
    alphas_cumprod = official_alphas_cumprod("scaled_linear")
    timesteps = torch.from_numpy(np.array(official_perflow_timesteps(steps), dtype=np.int64))
    x = noise.clone()
    for i, t in enumerate(timesteps):
        eps = guided_eps(unet, x, t, cond, uncond, cfg, added)
        velocity = official_velocity(eps, x, int(t), prediction, alphas_cumprod)
        prev = timesteps[i + 1] if i + 1 < len(timesteps) else 0
        x = x + ((prev - t) / 1000) * velocity
    return x


# ------------------------------------------------------------------------------------------------ trailing DDIM

def official_trailing_ddim_loop(unet, noise, cond, uncond, steps: int, cfg: float, beta_schedule: str,
                                set_alpha_to_one: bool = False, added=None):
    """StableDiffusion(XL)Pipeline with DDIMScheduler (trailing, eta 0, eps prediction, no clipping)."""
    alphas_cumprod = official_alphas_cumprod(beta_schedule)
    final_alpha_cumprod = torch.tensor(1.0) if set_alpha_to_one else alphas_cumprod[0]
    timesteps = np.round(np.arange(1000, 0, -1000 / steps)).astype(np.int64) - 1
    x = noise.clone()
    for t in torch.from_numpy(timesteps):
        eps = guided_eps(unet, x, t, cond, uncond, cfg, added)
        prev_timestep = t - 1000 // steps
        alpha_prod_t = alphas_cumprod[t]
        alpha_prod_t_prev = alphas_cumprod[prev_timestep] if prev_timestep >= 0 else final_alpha_cumprod
        pred_original_sample = (x - (1 - alpha_prod_t) ** 0.5 * eps) / alpha_prod_t ** 0.5
        x = alpha_prod_t_prev ** 0.5 * pred_original_sample + (1 - alpha_prod_t_prev) ** 0.5 * eps
    return x


def sdxl_added_cond(pooled_cond, pooled_uncond, size: tuple[int, int]):
    """StableDiffusionXLPipeline's added_cond_kwargs: text_embeds (pooled) and time_ids (original size, crop
    (0, 0), target size), batched [uncond, cond] like the hidden states."""
    time_ids = torch.tensor([[size[0], size[1], 0, 0, size[0], size[1]]], dtype=torch.float32)

    def added(cond):
        if cond:
            return {"text_embeds": pooled_cond, "time_ids": time_ids.repeat(len(pooled_cond), 1)}
        pooled = torch.cat([pooled_uncond, pooled_cond])
        return {"text_embeds": pooled, "time_ids": time_ids.repeat(len(pooled), 1)}
    return added
