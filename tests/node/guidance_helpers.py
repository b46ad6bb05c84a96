"""Shared steps for the guidance node tests: guiders by node id, sampling with fixed noise, law settings."""
from __future__ import annotations

import torch

from rectiflow.testing.comfy_host import pack_module, run_node
from digits_helpers import digits_model, empty_latent, labels_cond

LABELS = list(range(10))
ALL_LABELS = "0 1 2 3 4 5 6 7 8 9"

# every guider node with working (non-neutral) settings for the digits model
GUIDER_SETTINGS = {
    "RectiFlowGuiderRAAG": dict(w_max=6.0, alpha=4.0),
    "RectiFlowGuiderSMCCFG": dict(w=3.0, lam=5.0, k=0.05, warmup_steps=0, gain="absolute", boundary_layer=0.0),
    "RectiFlowGuiderCFGZeroStar": dict(w=3.0, zeroed_steps=1, optimized_scale=True),
    "RectiFlowGuiderAPG": dict(w=3.0, momentum=-0.5, norm_threshold=0.0, eta=0.0),
    "RectiFlowGuiderLimitedInterval": dict(w=3.0, sigma_lo=0.2, sigma_hi=0.85),
    "RectiFlowGuiderRescale": dict(w=3.0, phi=0.7, space="v"),
    "RectiFlowGuiderSchedule": dict(w=3.0, shape="linear"),
    "RectiFlowGuiderCFGPP": dict(lam=0.6),
    "RectiFlowGuiderRCFG": dict(w=1.5, mode="self", delta=1.0),
    "RectiFlowGuiderRectifiedCFGPP": dict(w=2.0, predictor_fraction=0.5),
    "RectiFlowGuiderCFGMP": dict(w=3.0, switch_sigma=0.5, iterations=2, anderson_window=1, damping=1.0),
}

# settings under which a law is plain CFG at weight w (the second item)
NEUTRAL_SETTINGS = [
    ("RectiFlowGuiderSMCCFG", 3.0, dict(w=3.0, lam=5.0, k=0.0, warmup_steps=0, gain="absolute", boundary_layer=0.0)),
    ("RectiFlowGuiderRAAG", 3.0, dict(w_max=3.0, alpha=0.0)),
    ("RectiFlowGuiderCFGZeroStar", 3.0, dict(w=3.0, zeroed_steps=0, optimized_scale=False)),
    ("RectiFlowGuiderAPG", 3.0, dict(w=3.0, momentum=0.0, norm_threshold=0.0, eta=1.0)),
    ("RectiFlowGuiderLimitedInterval", 3.0, dict(w=3.0, sigma_lo=0.0, sigma_hi=1.0)),
    ("RectiFlowGuiderRescale", 3.0, dict(w=3.0, phi=0.0, space="v")),
    ("RectiFlowGuiderSchedule", 3.0, dict(w=3.0, shape="constant")),
    ("RectiFlowGuiderRectifiedCFGPP", 1.0, dict(w=0.0, predictor_fraction=0.5)),
    ("RectiFlowGuiderCFGMP", 3.0, dict(w=3.0, switch_sigma=1.0, iterations=2, anderson_window=1, damping=1.0)),
]


class FixedNoise:
    """A NOISE whose samples are a given tensor (so tests can reproduce the start exactly)."""

    def __init__(self, noise: torch.Tensor):
        self.noise, self.seed = noise, 0

    def generate_noise(self, latent: dict) -> torch.Tensor:
        return self.noise.clone()


def fixed_noise(batch: int, seed: int = 11, shape=(1, 16, 16)) -> FixedNoise:
    return FixedNoise(torch.randn((batch, *shape), generator=torch.Generator().manual_seed(seed)))


def guidance_module(name: str):
    """nodes/<name>.py as ComfyUI loaded it (e.g. "guidance_runs", "guidance_laws", "guidance_inspector")."""
    return pack_module(f"nodes.{name}")


def guider(node_id: str, model=None, labels: str = ALL_LABELS, negative: str = "null", **settings):
    model = digits_model() if model is None else model
    return run_node(node_id, model=model, positive=labels_cond(labels), negative=labels_cond(negative), **settings)[0]


def cfg_guider(w: float, model=None, labels: str = ALL_LABELS):
    model = digits_model() if model is None else model
    return run_node("CFGGuider", model=model, positive=labels_cond(labels), negative=labels_cond("null"), cfg=w)[0]


def stock_sampler(name: str = "euler"):
    return run_node("KSamplerSelect", sampler_name=name)[0]


def simple_sigmas(steps: int, model=None):
    model = digits_model() if model is None else model
    return run_node("BasicScheduler", model=model, scheduler="simple", steps=steps, denoise=1.0)[0]


def sample(guider_obj, sampler=None, steps: int = 8, batch: int = 10, noise=None, latent=None, sigmas=None):
    noise = fixed_noise(batch) if noise is None else noise
    latent = empty_latent(batch) if latent is None else latent
    sigmas = simple_sigmas(steps) if sigmas is None else sigmas
    return run_node("SamplerCustomAdvanced", noise=noise, guider=guider_obj, sampler=sampler or stock_sampler(),
                    sigmas=sigmas, latent_image=latent)[0]["samples"]
