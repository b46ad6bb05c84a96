"""Bad parameters are refused by name before sampling (NaN, inf, sizes a machine cannot hold, degenerate shifts).
Steps and guided predictions that go non-finite: tests/node/test_no_silent_nan.py."""
import math

import pytest
import torch

from rectiflow.testing.comfy_host import run_node


@pytest.mark.parametrize("node_id, inputs, name", [
    ("RectiFlowSamplerSDE", {"noise_scale": math.nan, "diffusion": "sigma"}, "noise_scale"),
    ("RectiFlowSamplerSDE", {"noise_scale": math.inf, "diffusion": "sigma"}, "noise_scale"),
    ("RectiFlowSamplerAdaptive", {"rtol": math.nan, "atol": 1e-4, "max_nfe": 50}, "rtol"),
    ("RectiFlowSamplerAdaptive", {"rtol": 1e-3, "atol": -math.inf, "max_nfe": 50}, "atol"),
])
def test_nonfinite_sampler_parameters_are_named(comfy, node_id, inputs, name):
    with pytest.raises(ValueError, match=rf"^{name}: expected a finite number, got (nan|inf|-inf)$"):
        run_node(node_id, **inputs)


def test_unknown_sde_diffusion_is_named(comfy):
    with pytest.raises(ValueError, match=r"^diffusion: 'cubic' is not a diffusion shape"):
        run_node("RectiFlowSamplerSDE", noise_scale=0.5, diffusion="cubic")


def digits_guider(node_id: str, **settings):
    model = run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors")[0]
    positive = run_node("RectiFlowDigitsLabel", labels="3")[0]
    negative = run_node("RectiFlowDigitsLabel", labels="null")[0]
    return model, run_node(node_id, model=model, positive=positive, negative=negative, **settings)[0]


def test_finite_runs_are_untouched(comfy):
    model, guider = digits_guider("RectiFlowGuiderRCFG", w=1.5, mode="self", delta=1.0)
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=4, denoise=1.0)[0]
    out = run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=0)[0], guider=guider,
                   sampler=run_node("RectiFlowSamplerEuler")[0], sigmas=sigmas,
                   latent_image=run_node("RectiFlowDigitsEmptyLatent", batch_size=2)[0])[0]["samples"]
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("max_shift", [1.15, 10.0])
def test_flux_shift_at_huge_resolutions_is_refused_by_name(comfy, max_shift):
    with pytest.raises(ValueError, match=r"^width/height/base_shift/max_shift: 16384x16384 gives mu = "):
        run_node("RectiFlowFluxShiftScheduler", steps=3, width=16384, height=16384, base_shift=0.5,
                 max_shift=max_shift)


def test_flux_shift_at_its_own_resolution_still_works(comfy):
    sigmas = run_node("RectiFlowFluxShiftScheduler", steps=4, width=1024, height=1024, base_shift=0.5,
                      max_shift=1.15)[0]
    assert sigmas[0] == 1 and sigmas[-1] == 0 and bool((sigmas[1:] < sigmas[:-1]).all())


def test_latent_to_image_refuses_sizes_it_cannot_hold(comfy):
    latent = {"samples": torch.zeros(4096, 1, 16, 16)}
    with pytest.raises(ValueError, match=r"^samples/scale: a batch of 4096 at scale 64 makes a 48.0 GiB IMAGE"):
        run_node("RectiFlowDigitsLatentToImage", samples=latent, scale=64, grid_columns=0)
