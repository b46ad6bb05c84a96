"""Guiders on ComfyUI's own Flux and SD3 architectures, tiny and with random weights: they run, and neutral
settings equal CFGGuider."""
import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from guidance_helpers import GUIDER_SETTINGS, NEUTRAL_SETTINGS
from tiny_models import text_conditioning, tiny_flux, tiny_sd3

ARCHITECTURES = {"flux": tiny_flux, "sd3": tiny_sd3}
_models = {}


@pytest.fixture(scope="module", autouse=True)
def release_tiny_models():
    yield
    _models.clear()      # before interpreter shutdown, where ModelPatcher.__del__ cannot run cleanly


def tiny_model(arch: str):
    if arch not in _models:
        _models[arch] = ARCHITECTURES[arch]()
    return _models[arch]


def text_cond(seed: int):
    return text_conditioning(seed, tokens=6)


def run(arch: str, node_id: str, **settings):
    model = tiny_model(arch)
    guider = run_node(node_id, model=model, positive=text_cond(1), negative=text_cond(2), **settings)[0]
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=3, denoise=1.0)[0]
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=4)[0], guider=guider,
                    sampler=run_node("KSamplerSelect", sampler_name="euler")[0], sigmas=sigmas,
                    latent_image={"samples": torch.zeros(2, 16, 8, 8)})[0]["samples"]


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("node_id, w, settings", NEUTRAL_SETTINGS[:3], ids=[n for n, _, _ in NEUTRAL_SETTINGS[:3]])
def test_neutral_settings_equal_cfg_on_dit_architectures(comfy, arch, node_id, w, settings):
    torch.testing.assert_close(run(arch, node_id, **settings), run(arch, "CFGGuider", cfg=w), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("arch", list(ARCHITECTURES))
@pytest.mark.parametrize("node_id", list(GUIDER_SETTINGS))
def test_every_guider_runs_on_dit_architectures(comfy, arch, node_id):
    out = run(arch, node_id, **GUIDER_SETTINGS[node_id])
    assert out.shape == (2, 16, 8, 8) and torch.isfinite(out).all()
