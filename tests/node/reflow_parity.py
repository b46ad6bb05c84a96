"""Run a reflow-distilled tiny UNet through the real ComfyUI (SamplerCustomAdvanced + CFGGuider + a stock sampler)
and through the official loop (reflow_official.py) on the diffusers module; report both latents and the network
timesteps each side fed its network (forward hooks)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from reflow_helpers import conditioning, record_timesteps, text_embedding

from rectiflow.testing.comfy_host import run_node

SEED = 11
LATENT_SHAPE = (1, 4, 8, 8)


@dataclass
class Run:
    latent: torch.Tensor          # the final latent in diffusers' (VAE-scaled) units
    timesteps: list[float]        # network timesteps in call order (consecutive repeats merged)


@dataclass
class Prompt:
    cond: torch.Tensor
    uncond: torch.Tensor
    pooled_cond: torch.Tensor | None = None
    pooled_uncond: torch.Tensor | None = None

    def comfy(self, which: str, size: int) -> list:
        embedding, pooled = (self.cond, self.pooled_cond) if which == "cond" else (self.uncond, self.pooled_uncond)
        cond = conditioning(embedding, pooled)
        if pooled is not None:
            cond[0][1].update(width=size, height=size)    # SDXL adm: original and target size = the image size
        return cond


def prompt(pooled_dim: int | None = None) -> Prompt:
    pooled = None if pooled_dim is None else [torch.randn((1, pooled_dim), generator=torch.Generator().manual_seed(s))
                                              for s in (5, 6)]
    return Prompt(text_embedding(1, seed=3), text_embedding(1, seed=4), *(pooled or [None, None]))


def start_noise() -> torch.Tensor:
    import comfy.sample

    return comfy.sample.prepare_noise(torch.zeros(LATENT_SHAPE), SEED)


def comfy_run(model, sigmas: torch.Tensor, texts: Prompt, cfg: float, sampler: str = "euler") -> Run:
    """SamplerCustomAdvanced(RandomNoise, CFGGuider, `sampler`, sigmas) from an empty latent."""
    log: list[float] = []
    latent_format_scale = model.model.latent_format.scale_factor
    size = LATENT_SHAPE[-1] * 8
    guider = run_node("CFGGuider", model=model, positive=texts.comfy("cond", size),
                      negative=texts.comfy("uncond", size), cfg=cfg)[0]
    chosen = run_node("RectiFlowSamplerEuler")[0] if sampler == "rectiflow_euler" else run_node(
        "KSamplerSelect", sampler_name=sampler)[0]
    handle = record_timesteps(model.model.diffusion_model, log)
    try:
        out = run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=SEED)[0], guider=guider,
                       sampler=chosen, sigmas=sigmas, latent_image={"samples": torch.zeros(LATENT_SHAPE)})[0]
    finally:
        handle.remove()
    return Run(out["samples"] * latent_format_scale, log)


def official_run(loop, unet, texts: Prompt, cfg: float, added=None, **options) -> Run:
    log: list[float] = []
    handle = record_timesteps(unet, log)
    try:
        latent = loop(unet, start_noise(), texts.cond, texts.uncond, cfg=cfg, added=added, **options)
    finally:
        handle.remove()
    return Run(latent, log)


def same_run(ours: Run, official: Run, tolerance: float = 2e-5) -> bool:
    """Same network timesteps (to float32 rounding of t = k / 1000 times 1000) and the same final latent (to
    `tolerance` times its largest entry: float32 rounding through the network is about 1e-6 of it)."""
    same_times = len(ours.timesteps) == len(official.timesteps) and all(
        abs(a - b) < 1e-3 for a, b in zip(ours.timesteps, official.timesteps))
    scale = float(official.latent.abs().max())
    return same_times and float((ours.latent - official.latent).abs().max()) <= tolerance * max(scale, 1.0)
