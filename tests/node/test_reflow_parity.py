"""InstaFlow / 2-Rectified Flow parity: the pack's loader + ComfyUI's stock samplers (and RectiFlow's Euler) reproduce
the official sampling loop (InstaFlow arXiv 2309.06380, gnobitab/InstaFlow code/pipeline_rf.py) on the same UNet.

The official loop is written out in the test (reflow_helpers.official_rf_sample) on the diffusers module; the
ComfyUI side runs the real KSampler / SamplerCustomAdvanced in process. Both the final latent and the sequence of
network timesteps (forward hooks on both modules) must agree; a wrong output sign or a wrong timestep map in the
loader must make the comparison fail (checked by mutating the loader on purpose)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from rectiflow.testing.comfy_host import pack_module, run_node

from reflow_helpers import (comfy_model_folder, conditioning, official_rf_sample, record_timesteps, save_folder,
                            text_embedding, tiny_unet)

pytestmark = pytest.mark.usefixtures("comfy", "one_thread")
FOLDER = "tiny-instaflow/unet"
BATCH, SIZE = 2, 8
TOLERANCE = dict(rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def unet():
    return tiny_unet("sd15", seed=21)


@pytest.fixture(scope="module", autouse=True)
def diffusers_folder(unet, tmp_path_factory):
    root = tmp_path_factory.mktemp("diffusers")
    save_folder(unet, root / FOLDER)
    with comfy_model_folder("diffusers", root):
        yield root


def load(family: str = "instaflow"):
    return run_node("RectiFlowLoadInstaFlow", family=family, unet=f"[diffusers] {FOLDER}", variant="")[0]


def noise_for(seed: int) -> torch.Tensor:
    return torch.randn((BATCH, 4, SIZE, SIZE), generator=torch.Generator().manual_seed(seed))


def conds(seed: int = 3):
    """(positive, negative) CONDITIONING built from random 'CLIP' tensors, and the raw tensors."""
    positive, negative = text_embedding(BATCH, seed=seed), text_embedding(BATCH, seed=seed + 100)
    return conditioning(positive), conditioning(negative), positive, negative


def ksampler(model, steps: int, cfg: float, seed: int, positive, negative) -> torch.Tensor:
    latent = {"samples": torch.zeros((BATCH, 4, SIZE, SIZE))}
    out = run_node("KSampler", model=model, seed=seed, steps=steps, cfg=cfg, sampler_name="euler", scheduler="simple",
                   positive=positive, negative=negative, latent_image=latent, denoise=1.0)[0]
    return out["samples"]


class FixedNoise:
    """A NOISE object handing SamplerCustomAdvanced a given tensor."""

    def __init__(self, noise: torch.Tensor):
        self.noise, self.seed = noise, 0

    def generate_noise(self, latent: dict) -> torch.Tensor:
        return self.noise.clone()


def custom_advanced(model, sampler, steps: int, cfg: float, noise, positive, negative) -> torch.Tensor:
    sigmas = torch.tensor([1.0 - i / steps for i in range(steps)] + [0.0])    # the official sigma = 1 - i/N
    guider = run_node("CFGGuider", model=model, positive=positive, negative=negative, cfg=cfg)[0]
    latent = {"samples": torch.zeros((BATCH, 4, SIZE, SIZE))}
    return run_node("SamplerCustomAdvanced", noise=FixedNoise(noise), guider=guider, sampler=sampler, sigmas=sigmas,
                    latent_image=latent)[0]["samples"]


def run_both(unet, model, run, steps: int, cfg: float, seed: int):
    """(ComfyUI latent in the official scale, official latent, ComfyUI timesteps, official timesteps)."""
    positive, negative, pos_t, neg_t = conds()
    comfy_t, official_t = [], []
    hooks = [record_timesteps(model.model.diffusion_model, comfy_t), record_timesteps(unet, official_t)]
    try:
        got = run(model, positive, negative) * model.model.latent_format.scale_factor
        expected = official_rf_sample(unet, noise_for(seed), pos_t, steps, cfg, neg_t)
    finally:
        for hook in hooks:
            hook.remove()
    return got, expected, comfy_t, official_t


def agrees(got, expected, comfy_t, official_t) -> tuple[bool, bool]:
    """(final latents agree, timestep sequences agree) to float tolerance."""
    latents = bool(torch.allclose(got, expected, **TOLERANCE))
    times = len(comfy_t) == len(official_t) and all(abs(a - b) < 1e-3 for a, b in zip(comfy_t, official_t))
    return latents, times


@pytest.mark.parametrize("family,steps,cfg", [("instaflow", 1, 1.0), ("2-rectified-flow", 4, 1.0),
                                              ("2-rectified-flow", 4, 1.5)])
def test_ksampler_euler_matches_the_official_loop(unet, family, steps, cfg):
    seed = 40 + steps
    run = lambda m, p, n: ksampler(m, steps, cfg, seed, p, n)  # noqa: E731
    got, expected, comfy_t, official_t = run_both(unet, load(family), run, steps, cfg, seed)
    assert official_t == [1000.0 * (1 - i / steps) for i in range(steps)]
    assert expected.abs().mean() > 0.1
    torch.testing.assert_close(got, expected, **TOLERANCE)
    assert agrees(got, expected, comfy_t, official_t) == (True, True), (comfy_t, official_t)


@pytest.mark.parametrize("sampler_node", ["KSamplerSelect", "RectiFlowSamplerEuler"])
@pytest.mark.parametrize("cfg", [1.0, 1.7])
def test_custom_sampler_with_official_sigmas_matches(unet, sampler_node, cfg):
    steps, seed = 3, 7
    sampler = run_node(sampler_node, **({"sampler_name": "euler"} if sampler_node == "KSamplerSelect" else {}))[0]
    run = lambda m, p, n: custom_advanced(m, sampler, steps, cfg, noise_for(seed), p, n)  # noqa: E731
    got, expected, comfy_t, official_t = run_both(unet, load("2-rectified-flow"), run, steps, cfg, seed)
    torch.testing.assert_close(got, expected, **TOLERANCE)
    assert agrees(got, expected, comfy_t, official_t) == (True, True), (comfy_t, official_t)


def wrong_timestep_sampling(model_config):
    """A mutation: CONST flow sampling with network time sigma instead of 1000 sigma."""
    sampling = pack_module("nodes.reflow_unet").flow_model_sampling(model_config)
    sampling.set_parameters(shift=1.0, multiplier=1)
    return sampling


@pytest.mark.parametrize("mutation", ["sign", "timestep"])
def test_the_comparison_catches_a_wrong_sign_or_timestep_map(unet, monkeypatch, mutation):
    loaders = pack_module("nodes.reflow_loaders")
    if mutation == "sign":
        wrong = dataclasses.replace(loaders.FAMILIES["2-rectified-flow"], negate_output=False)
        monkeypatch.setitem(loaders.FAMILIES, "2-rectified-flow", wrong)
    else:
        monkeypatch.setattr(loaders, "flow_model_sampling", wrong_timestep_sampling)
    steps, cfg, seed = 4, 1.0, 44
    run = lambda m, p, n: ksampler(m, steps, cfg, seed, p, n)  # noqa: E731
    latents_agree, times_agree = agrees(*run_both(unet, load("2-rectified-flow"), run, steps, cfg, seed))
    assert not latents_agree
    assert times_agree == (mutation == "sign")
