"""MODEL patches for KSampler: neutral settings, chaining with each other and with ComfyUI's own hooks, state reset."""
import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from digits_helpers import digits_model, empty_latent, labels_cond
from guidance_helpers import ALL_LABELS, guider, sample

TOL = dict(rtol=1e-5, atol=1e-5)
SMC = dict(lam=5.0, k=0.05, warmup_steps=0, gain="absolute", boundary_layer=0.0)


def ksampler(model, cfg: float, steps: int = 6, batch: int = 10, sampler_name: str = "euler"):
    return run_node("KSampler", model=model, seed=5, steps=steps, cfg=cfg, sampler_name=sampler_name,
                    scheduler="simple", positive=labels_cond(ALL_LABELS), negative=labels_cond("null"),
                    latent_image=empty_latent(batch), denoise=1.0)[0]["samples"]


def patch_raag(model, w_max=8.0, alpha=3.0):
    return run_node("RectiFlowPatchRAAG", model=model, w_max=w_max, alpha=alpha)[0]


def patch_smc(model, **settings):
    return run_node("RectiFlowPatchSMCCFG", model=model, **{**SMC, **settings})[0]


def test_neutral_patches_are_plain_cfg(comfy):
    plain = ksampler(digits_model(), cfg=3.0)
    torch.testing.assert_close(ksampler(patch_smc(digits_model(), k=0.0), cfg=3.0), plain, **TOL)
    torch.testing.assert_close(ksampler(patch_raag(digits_model(), w_max=3.0, alpha=0.0), cfg=7.0), plain, **TOL)


def test_two_stacked_patches_both_take_effect(comfy):
    model = digits_model()
    stacked = ksampler(patch_raag(patch_smc(model)), cfg=3.0)
    # the same composition built another way: a RAAG guider on the SMC-patched model
    composed = sample_like_ksampler(guider("RectiFlowGuiderRAAG", model=patch_smc(model), w_max=8.0, alpha=3.0))
    torch.testing.assert_close(stacked, composed, **TOL)
    only_smc, only_raag = ksampler(patch_smc(model), cfg=3.0), ksampler(patch_raag(model), cfg=3.0)
    assert (stacked - only_smc).abs().max() > 1e-2 and (stacked - only_raag).abs().max() > 1e-2


def sample_like_ksampler(guider_obj, steps: int = 6, batch: int = 10):
    noise = run_node("RandomNoise", noise_seed=5)[0]
    sigmas = run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=steps, denoise=1.0)[0]
    return sample(guider_obj, steps=steps, batch=batch, noise=noise, sigmas=sigmas)


def test_stacked_cfg_function_matches_hand_computation(comfy):
    """RAAG over SMC on fixed tensors (first step: e' = e - K sign(lam e)): v = v_u + w_raag(e) e'."""
    cfg_function = patch_raag(patch_smc(digits_model(), k=0.1), w_max=5.0, alpha=2.0).model_options[
        "sampler_cfg_function"]
    gen = torch.Generator().manual_seed(0)
    x, v_c, v_u = (torch.randn(2, 1, 4, 4, generator=gen) for _ in range(3))
    sigma = torch.full((2,), 0.5)
    args = {"input": x, "sigma": sigma, "cond": 0.5 * v_c, "uncond": 0.5 * v_u, "cond_denoised": x - 0.5 * v_c,
            "uncond_denoised": x - 0.5 * v_u, "cond_scale": 3.0, "timestep": sigma, "input_cond": [{}],
            "input_uncond": [{}], "model_options": {"transformer_options": {}}}
    error = v_c - v_u
    w = 1 + 4 * torch.exp(-2 * error.flatten(1).norm(dim=1) / v_u.flatten(1).norm(dim=1))
    expected = v_u + w.view(-1, 1, 1, 1) * (error - 0.1 * torch.sign(error))
    torch.testing.assert_close(cfg_function(args) / 0.5, expected, rtol=1e-5, atol=1e-5)


def test_patches_chain_onto_comfyui_hooks(comfy):
    rescaled = run_node("RescaleCFG", model=digits_model(), multiplier=0.7)[0]      # a sampler_cfg_function
    # RAAG with alpha 0 hands w_max to RescaleCFG's function, which must still run
    torch.testing.assert_close(ksampler(patch_raag(rescaled, w_max=4.0, alpha=0.0), cfg=1.5),
                               ksampler(rescaled, cfg=4.0), **TOL)
    zero_star = run_node("CFGZeroStar", model=digits_model())[0]                   # a post-cfg function
    torch.testing.assert_close(ksampler(patch_smc(zero_star, k=0.0), cfg=3.0), ksampler(zero_star, cfg=3.0), **TOL)


def test_patch_state_is_reset_every_run(comfy):
    patched = patch_smc(digits_model())
    first = ksampler(patched, cfg=3.0, sampler_name="heun", steps=4)
    ksampler(patched, cfg=3.0, batch=2, steps=3)
    assert torch.equal(first, ksampler(patched, cfg=3.0, sampler_name="heun", steps=4))


def test_patching_leaves_the_input_model_alone(comfy):
    model = digits_model()
    patch_raag(patch_smc(model))
    assert "sampler_cfg_function" not in model.model_options
    assert not model.wrappers


def test_patch_under_basic_guider_asks_for_a_negative(comfy):
    """BasicGuider has no negative, so no uncond exists for RAAG/SMC: a clear error, not a NoneType failure."""
    for patched in (patch_raag(digits_model()), patch_smc(digits_model())):
        basic = run_node("BasicGuider", model=patched, conditioning=labels_cond(ALL_LABELS))[0]
        with pytest.raises(ValueError, match="needs a negative conditioning.*BasicGuider"):
            sample_like_ksampler(basic)
