"""PeRFlow (arXiv 2405.07510) in ComfyUI reproduces the official PeRFlowScheduler loop on a tiny random diffusers UNet.

The loader's PeRFlowSampling + RectiFlow PeRFlow Schedule + ComfyUI's stock euler (and RectiFlow Sampler Euler) give
the official final latent and network timesteps; a wrong window split or timestep map is caught by the same test."""
from __future__ import annotations

import pytest
import torch

from reflow_helpers import POOLED_DIM, comfy_model_folder, save_folder, tiny_unet
from reflow_official import official_perflow_loop, sdxl_added_cond
from reflow_parity import comfy_run, official_run, prompt, same_run

from rectiflow.testing.comfy_host import pack_module, run_node

pytestmark = pytest.mark.usefixtures("comfy", "one_thread")
PREDICTION = {"sd15": "diff_eps", "sdxl": "ddim_eps"}


VARIANT = "v0-1"


@pytest.fixture(scope="module")
def unets(tmp_path_factory):
    """Tiny PeRFlow-like UNets as diffusers folders with PeRFlow's variant naming, in ComfyUI's diffusers folder."""
    root = tmp_path_factory.mktemp("diffusers")
    unets = {"sd15": tiny_unet("sd15", seed=21), "sdxl": tiny_unet("sdxl", seed=22)}
    for base, unet in unets.items():
        save_folder(unet, root / f"perflow-{base}" / "unet", variant=VARIANT)
    with comfy_model_folder("diffusers", root):
        yield unets


@pytest.fixture(scope="module")
def sd15(unets):
    return unets["sd15"], "[diffusers] perflow-sd15/unet"


def load_perflow(name: str, base: str = "sd15"):
    return run_node("RectiFlowLoadPeRFlow", base=base, unet=name, variant=VARIANT)[0]


def perflow_sigmas(steps: int) -> torch.Tensor:
    return run_node("RectiFlowPeRFlowScheduler", steps=steps)[0]


@pytest.mark.parametrize("steps, cfg, sampler", [(4, 7.5, "euler"), (6, 4.5, "euler"), (8, 1.0, "euler"),
                                                 (5, 4.5, "rectiflow_euler")])
def test_comfy_euler_reproduces_the_official_perflow_loop_sd15(sd15, steps, cfg, sampler):
    unet, path = sd15
    texts = prompt()
    ours = comfy_run(load_perflow(path), perflow_sigmas(steps), texts, cfg, sampler)
    official = official_run(official_perflow_loop, unet, texts, cfg, steps=steps, prediction="diff_eps")
    assert len(official.timesteps) == steps and official.latent.abs().max() > 0.1
    assert same_run(ours, official), (ours.timesteps, official.timesteps,
                                      float((ours.latent - official.latent).abs().max()))


def test_a_wrong_window_split_is_caught(sd15, monkeypatch):
    unet, path = sd15
    texts = prompt()
    official = official_run(official_perflow_loop, unet, texts, 4.5, steps=6, prediction="diff_eps")
    maths = pack_module("samplers.reflow_distilled")
    even = [round(1000 - 1000 * k / 6) for k in range(6)]              # 6 even steps ignoring the windows
    monkeypatch.setattr(maths, "perflow_timesteps", lambda steps, num_windows=4: even)
    ours = comfy_run(load_perflow(path), perflow_sigmas(6), texts, 4.5)
    assert ours.timesteps != pytest.approx(official.timesteps) and not same_run(ours, official)


def test_a_wrong_timestep_map_or_parameterisation_is_caught(sd15, monkeypatch):
    unet, path = sd15
    texts = prompt()
    official = official_run(official_perflow_loop, unet, texts, 4.5, steps=4, prediction="diff_eps")
    sampling = pack_module("nodes.reflow_sampling")
    with monkeypatch.context() as patch:
        patch.setattr(sampling.PeRFlowSampling, "timestep", lambda self, sigma: sigma * 999)
        shifted = comfy_run(load_perflow(path), perflow_sigmas(4), texts, 4.5)
    assert shifted.timesteps == pytest.approx([999 * t / 1000 for t in official.timesteps], abs=1e-3)
    assert not same_run(shifted, official)
    other = run_node("RectiFlowReflowModelSampling", model=load_perflow(path), sampling="perflow_sdxl")[0]
    assert not same_run(comfy_run(other, perflow_sigmas(4), texts, 4.5), official)


def test_comfy_euler_reproduces_the_official_perflow_loop_sdxl(unets):
    unet = unets["sdxl"]
    texts = prompt(POOLED_DIM)
    model = load_perflow("[diffusers] perflow-sdxl/unet", base="sdxl")
    ours = comfy_run(model, perflow_sigmas(6), texts, 2.0)
    added = sdxl_added_cond(texts.pooled_cond, texts.pooled_uncond, (64, 64))
    official = official_run(official_perflow_loop, unet, texts, 2.0, added=added, steps=6, prediction="ddim_eps")
    assert same_run(ours, official), (ours.timesteps, official.timesteps,
                                      float((ours.latent - official.latent).abs().max()))
