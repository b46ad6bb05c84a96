"""Rectified Diffusion (arXiv 2410.07303) in ComfyUI reproduces diffusers' trailing DDIM loop (eta 0,
set_alpha_to_one=False, diffusers' "linear" betas for rd/cm, "scaled_linear" for phased) on a tiny random UNet.

The loader's DiffusersEpsSampling + RectiFlow Trailing DDIM Schedule + ComfyUI's ddim / euler give the official
final latent (VP-scaled at alpha_bar_0, as diffusers returns it) and network timesteps; ComfyUI's own "linear"
betas or a wrong timestep map are caught by the same test; step counts not dividing 1000 are measured."""
from __future__ import annotations

import pytest
import torch

from reflow_helpers import POOLED_DIM, comfy_model_folder, save_single, tiny_unet
from reflow_official import official_trailing_ddim_loop, sdxl_added_cond
from reflow_parity import comfy_run, official_run, prompt, same_run

from rectiflow.testing.comfy_host import run_node

pytestmark = pytest.mark.usefixtures("comfy", "one_thread")


CHECKPOINT = {"linear": "rd", "scaled_linear": "phased"}


@pytest.fixture(scope="module")
def unets(tmp_path_factory):
    """Tiny UNets as rectiflow-convert-ckpt leaves Rectified Diffusion's .ckpt: one diffusers-keyed .safetensors
    without a config, in ComfyUI's diffusion_models folder."""
    root = tmp_path_factory.mktemp("diffusion_models")
    unets = {"sd15": tiny_unet("sd15", seed=31), "sdxl": tiny_unet("sdxl", seed=32)}
    save_single(unets["sd15"], root / "rd.safetensors")
    save_single(unets["sdxl"], root / "phasedxl.safetensors")
    with comfy_model_folder("diffusion_models", root):
        yield unets


@pytest.fixture(scope="module")
def sd15(unets):
    return unets["sd15"], "rd.safetensors"


def load_rd(name: str, beta_schedule: str, checkpoint: str | None = None):
    return run_node("RectiFlowLoadRectifiedDiffusion", checkpoint=checkpoint or CHECKPOINT[beta_schedule],
                    unet=name)[0]


def trailing(model, steps: int, set_alpha_to_one: bool = False) -> torch.Tensor:
    return run_node("RectiFlowTrailingDDIMScheduler", model=model, steps=steps, set_alpha_to_one=set_alpha_to_one)[0]


def official(unet, texts, cfg, steps, beta_schedule, set_alpha_to_one=False, added=None):
    return official_run(official_trailing_ddim_loop, unet, texts, cfg, added=added, steps=steps,
                        beta_schedule=beta_schedule, set_alpha_to_one=set_alpha_to_one)


def report(ours, theirs) -> tuple:
    return ours.timesteps, theirs.timesteps, float((ours.latent - theirs.latent).abs().max())


@pytest.mark.parametrize("steps, cfg, betas, sampler", [
    (1, 1.5, "linear", "ddim"), (2, 1.5, "linear", "ddim"), (2, 1.0, "linear", "euler"),
    (4, 1.5, "scaled_linear", "ddim"), (8, 1.5, "linear", "euler"), (25, 1.5, "linear", "ddim")])
def test_comfy_ddim_reproduces_the_official_trailing_ddim_loop_sd15(sd15, steps, cfg, betas, sampler):
    unet, path = sd15
    texts = prompt()
    model = load_rd(path, betas)
    ours = comfy_run(model, trailing(model, steps), texts, cfg, sampler)
    theirs = official(unet, texts, cfg, steps, betas)
    assert len(theirs.timesteps) == steps and theirs.timesteps[0] == 999
    assert same_run(ours, theirs), report(ours, theirs)


def test_set_alpha_to_one_ends_on_the_denoised_latent(sd15):
    unet, path = sd15
    texts = prompt()
    model = load_rd(path, "linear")
    ours = comfy_run(model, trailing(model, 2, set_alpha_to_one=True), texts, 1.5, "ddim")
    theirs = official(unet, texts, 1.5, 2, "linear", set_alpha_to_one=True)
    assert same_run(ours, theirs), report(ours, theirs)
    assert not same_run(ours, official(unet, texts, 1.5, 2, "linear"))   # the final alpha matters


def test_comfyui_linear_betas_or_a_wrong_timestep_map_are_caught(sd15, monkeypatch):
    unet, path = sd15
    texts = prompt()
    theirs = official(unet, texts, 1.5, 2, "linear")
    comfy_betas = load_rd(path, "scaled_linear")      # what ComfyUI's own "linear" is
    wrong_betas = comfy_run(comfy_betas, trailing(comfy_betas, 2), texts, 1.5, "ddim")
    assert wrong_betas.timesteps == theirs.timesteps and not same_run(wrong_betas, theirs)
    model = load_rd(path, "linear")
    sigmas = trailing(model, 2)
    sampling = type(model.get_model_object("model_sampling"))
    monkeypatch.setattr(sampling, "timestep", lambda self, sigma: torch.full_like(sigma, 998.0))
    shifted = comfy_run(model, sigmas, texts, 1.5, "ddim")
    assert shifted.timesteps == [998.0] and not same_run(shifted, theirs)


@pytest.mark.parametrize("steps", [3, 16])
def test_step_counts_not_dividing_1000_deviate_slightly_and_warn(sd15, steps, caplog):
    """diffusers steps the state to t - 1000 // steps but calls the network at the next trailing timestep; the
    trailing sigmas keep state and timestep together. Same timesteps, a small measured latent deviation."""
    unet, path = sd15
    texts = prompt()
    model = load_rd(path, "linear")
    with caplog.at_level("WARNING"):
        sigmas = trailing(model, steps)
    assert "differ slightly from diffusers" in caplog.text
    ours, theirs = comfy_run(model, sigmas, texts, 1.5, "ddim"), official(unet, texts, 1.5, steps, "linear")
    assert ours.timesteps == theirs.timesteps
    relative = float((ours.latent - theirs.latent).abs().max() / theirs.latent.abs().max())
    assert 1e-5 < relative < 0.05, relative


def test_exact_step_counts_do_not_warn(sd15, caplog):
    model = load_rd(sd15[1], "linear")
    with caplog.at_level("WARNING"):
        trailing(model, 4)
    assert "differ slightly" not in caplog.text


def test_comfy_ddim_reproduces_the_official_loop_sdxl_phasedxl(unets):
    unet = unets["sdxl"]
    texts = prompt(POOLED_DIM)
    model = load_rd("phasedxl.safetensors", "scaled_linear", checkpoint="phasedxl")
    ours = comfy_run(model, trailing(model, 4), texts, 1.5, "ddim")
    added = sdxl_added_cond(texts.pooled_cond, texts.pooled_uncond, (64, 64))
    theirs = official(unet, texts, 1.5, 4, "scaled_linear", added=added)
    assert same_run(ours, theirs), report(ours, theirs)


def test_the_shipped_pickle_route_converts_and_samples_exactly(tmp_path):
    """As Rectified Diffusion ships it: a pickled diffusers-keyed UNet state dict (.ckpt). The real
    rectiflow-convert-ckpt command turns it into safetensors, which the loader + ddim sample as the official loop."""
    import subprocess
    import sys

    unet = tiny_unet("sd15", seed=33)
    folder = tmp_path / "diffusion_models"
    folder.mkdir()
    torch.save(unet.state_dict(), str(folder / "rd_pickled.ckpt"))
    command = [sys.executable, "-P", "-m", "rectiflow.models.convert_pickle", str(folder / "rd_pickled.ckpt")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (folder / "rd_pickled.safetensors").is_file()
    texts = prompt()
    with comfy_model_folder("diffusion_models", folder):
        model = load_rd("rd_pickled.safetensors", "linear")   # a name no other test registers
        ours = comfy_run(model, trailing(model, 2), texts, 1.5, "ddim")
    theirs = official(unet, texts, 1.5, 2, "linear")
    assert same_run(ours, theirs), report(ours, theirs)
