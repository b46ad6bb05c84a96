"""Every RectiFlow solver through ComfyUI's stock guiders on tiny Flux and SD3 (random weights)."""
import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from rectiflow.samplers.solvers import SOLVERS
from tiny_models import latent, text_conditioning, tiny_flux, tiny_sd3

ARCHITECTURES = {"flux": tiny_flux, "sd3": tiny_sd3}


def guiders(model):
    pos, neg, extra = text_conditioning(1), text_conditioning(2), text_conditioning(3)
    return {
        "BasicGuider": run_node("BasicGuider", model=model, conditioning=pos)[0],
        "CFGGuider": run_node("CFGGuider", model=model, positive=pos, negative=neg, cfg=4.0)[0],
        "DualCFGGuider": run_node("DualCFGGuider", model=model, cond1=pos, cond2=extra, negative=neg, cfg_conds=4.0,
                                  cfg_cond2_negative=2.0, style="regular")[0],
    }


def sampler_for(solver):
    if solver == "adaptive":
        return run_node("RectiFlowSamplerAdaptive", rtol=1e-2, atol=1e-3, max_nfe=300)[0]
    return run_node("RectiFlowSamplerSelect", solver=solver)[0]


def run(guider, sampler, sigmas, seed=0):
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=seed)[0], guider=guider,
                    sampler=sampler, sigmas=sigmas, latent_image=latent())[0]["samples"]


@pytest.fixture(scope="module", params=list(ARCHITECTURES))
def arch(request, comfy):
    model = ARCHITECTURES[request.param]()
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=6, denoise=1.0)[0]
    return request.param, model, sigmas


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_solver_runs_with_every_stock_guider(arch, solver):
    name, model, sigmas = arch
    for guider_name, guider in guiders(model).items():
        out = run(guider, sampler_for(solver), sigmas)
        assert out.shape == (2, 16, 8, 8), (name, guider_name)
        assert torch.isfinite(out).all(), (name, guider_name, solver)


def test_rectiflow_euler_matches_comfyui_euler(arch):
    _, model, sigmas = arch
    guider = guiders(model)["CFGGuider"]
    ours = run(guider, run_node("RectiFlowSamplerSelect", solver="euler")[0], sigmas)
    stock = run(guider, run_node("KSamplerSelect", sampler_name="euler")[0], sigmas)
    torch.testing.assert_close(ours, stock, atol=1e-4, rtol=1e-4)


def test_inversion_round_trip_on_the_architecture(arch):
    _, model, sigmas = arch
    guider = guiders(model)["BasicGuider"]
    sampler = run_node("RectiFlowSamplerSelect", solver="rf_solver")[0]
    clean = {"samples": torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(9)) * 0.5}
    fine = run_node("BasicScheduler", model=model, scheduler="simple", steps=24, denoise=1.0)[0]
    inverted, noise = run_node("RectiFlowInvert", guider=guider, sampler=sampler, sigmas=fine, latent_image=clean)
    back = run_node("SamplerCustomAdvanced", noise=noise, guider=guider, sampler=sampler, sigmas=fine,
                    latent_image=clean)[0]["samples"]
    assert torch.isfinite(inverted["samples"]).all()
    assert (back - clean["samples"]).abs().max() < 0.05
