"""Guider nodes inside the real ComfyUI on the digits model: neutral settings are CFG, an independent Euler loop
reproduces SMC-CFG and RAAG, state is reset per run, batches, areas/masks, every sampler, clear errors."""
import copy
import math

import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from digits_helpers import accuracy, digits_model, empty_latent, labels_cond
from guidance_helpers import (GUIDER_SETTINGS, LABELS, NEUTRAL_SETTINGS, FixedNoise, cfg_guider,
                              fixed_noise, guidance_module, guider, sample, simple_sigmas, stock_sampler)
from rectiflow.models.digits import NULL_LABEL, label_one_hot
from rectiflow.samplers.solvers import SOLVERS

TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("node_id, w, settings", NEUTRAL_SETTINGS, ids=[n for n, _, _ in NEUTRAL_SETTINGS])
def test_neutral_settings_equal_cfg_guider(comfy, node_id, w, settings):
    torch.testing.assert_close(sample(guider(node_id, **settings)), sample(cfg_guider(w)), **TOL)


@pytest.mark.parametrize("sampler_name", ["euler", "heun", "dpmpp_2m"])
def test_smc_with_zero_gain_equals_cfg_with_stock_samplers(comfy, sampler_name):
    smc = guider("RectiFlowGuiderSMCCFG", w=3.0, lam=5.0, k=0.0, warmup_steps=0, gain="absolute", boundary_layer=0.0)
    sampler = stock_sampler(sampler_name)
    torch.testing.assert_close(sample(smc, sampler), sample(cfg_guider(3.0), sampler), **TOL)


def velocity_net():
    net = digits_model().model.diffusion_model

    def velocity(x, sigma, labels):
        return net(x, torch.full((x.shape[0],), 1000.0 * sigma), context=label_one_hot(labels))
    return velocity


def reference_euler(law, steps: int, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """A plain Euler loop on the raw network, written without ComfyUI or samplers/guidance."""
    velocity, sigmas = velocity_net(), simple_sigmas(steps).tolist()
    x, memory = noise.clone(), None
    with torch.no_grad():
        for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
            v_cond, v_uncond = velocity(x, sigma, labels), velocity(x, sigma, torch.full_like(labels, NULL_LABEL))
            v, memory = law(v_cond, v_uncond, memory)
            x = x + (sigma_next - sigma) * v
    return x


def smc_reference(w, lam, k):
    def law(v_cond, v_uncond, previous):
        error = v_cond - v_uncond
        previous = error if previous is None else previous
        controlled = error - k * torch.sign((error - previous) + lam * previous)
        return v_uncond + w * controlled, controlled
    return law


def raag_reference(w_max, alpha):
    def law(v_cond, v_uncond, memory):
        error = v_cond - v_uncond
        ratio = error.flatten(1).norm(dim=1) / v_uncond.flatten(1).norm(dim=1)
        weight = 1 + (w_max - 1) * torch.exp(-alpha * ratio)
        return v_uncond + weight.view(-1, 1, 1, 1) * error, memory
    return law


@pytest.mark.parametrize("node_id, settings, law", [
    ("RectiFlowGuiderSMCCFG", dict(w=3.0, lam=5.0, k=0.05, warmup_steps=0, gain="absolute", boundary_layer=0.0),
     smc_reference(3.0, 5.0, 0.05)),
    ("RectiFlowGuiderRAAG", dict(w_max=8.0, alpha=3.0), raag_reference(8.0, 3.0)),
], ids=["smc", "raag"])
def test_guider_matches_an_independent_euler_loop(comfy, node_id, settings, law):
    noise = fixed_noise(10)
    ours = sample(guider(node_id, **settings), run_node("RectiFlowSamplerEuler")[0], steps=6, noise=noise)
    expected = reference_euler(law, 6, noise.noise, torch.tensor(LABELS))
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(ours, sample(cfg_guider(3.0), steps=6, noise=noise), atol=1e-3)


def step_reference(step, steps: int, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Whole-step laws applied to the raw network: x <- step(cond_fn, uncond_fn, x, sigma, sigma_next)."""
    velocity, sigmas = velocity_net(), simple_sigmas(steps).tolist()
    cond_fn = lambda y, s: velocity(y, s, labels)                                           # noqa: E731
    uncond_fn = lambda y, s: velocity(y, s, torch.full_like(labels, NULL_LABEL))            # noqa: E731
    x = noise.clone()
    with torch.no_grad():
        for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
            x = step(cond_fn, uncond_fn, x, sigma, sigma_next)
    return x


def rectified_by_hand(w, fraction):
    def step(cond_fn, uncond_fn, x, sigma, sigma_next):
        v_cond = cond_fn(x, sigma)
        sigma_p = sigma + fraction * (sigma_next - sigma)
        x_p = x + (sigma_p - sigma) * v_cond
        return x + (sigma_next - sigma) * (v_cond + w * (cond_fn(x_p, sigma_p) - uncond_fn(x_p, sigma_p)))
    return step


def cfg_mp_by_law(cond_fn, uncond_fn, x, sigma, sigma_next):
    from rectiflow.samplers import guidance as g

    return g.cfg_mp_step(cond_fn, uncond_fn, x, sigma, sigma_next, w=3.0, switch_sigma=0.5, iterations=2,
                         anderson_window=1, damping=1.0)


@pytest.mark.parametrize("node_id, step, tol", [
    ("RectiFlowGuiderRectifiedCFGPP", rectified_by_hand(2.0, 0.5), 1e-4),
    ("RectiFlowGuiderCFGMP", cfg_mp_by_law, 1e-3),      # Anderson's least squares amplifies float32 rounding
], ids=["rectified_cfgpp", "cfg_mp"])
def test_step_guiders_land_on_the_laws_step_with_euler(comfy, node_id, step, tol):
    noise = fixed_noise(10)
    ours = sample(guider(node_id, **GUIDER_SETTINGS[node_id]), run_node("RectiFlowSamplerEuler")[0], steps=6,
                  noise=noise)
    torch.testing.assert_close(ours, step_reference(step, 6, noise.noise, torch.tensor(LABELS)), rtol=tol, atol=tol)


@pytest.mark.parametrize("node_id", ["RectiFlowGuiderSMCCFG", "RectiFlowGuiderAPG", "RectiFlowGuiderRCFG"])
def test_two_runs_in_one_process_are_identical(comfy, node_id):
    stateful = guider(node_id, **GUIDER_SETTINGS[node_id])
    first = sample(stateful, stock_sampler("heun"), steps=5)
    sample(guider(node_id, **GUIDER_SETTINGS[node_id]), steps=3, batch=4)    # another run in between
    second = sample(stateful, stock_sampler("heun"), steps=5)
    assert torch.equal(first, second)


@pytest.mark.parametrize("node_id", ["RectiFlowGuiderRAAG", "RectiFlowGuiderSMCCFG"])
def test_batch_items_are_guided_independently(comfy, node_id):
    noise = fixed_noise(2)
    both = sample(guider(node_id, labels="3 7", **GUIDER_SETTINGS[node_id]), steps=5, noise=noise, batch=2)
    for i, label in enumerate(("3", "7")):
        alone = sample(guider(node_id, labels=label, **GUIDER_SETTINGS[node_id]), steps=5,
                       noise=FixedNoise(noise.noise[i:i + 1]), batch=1)
        torch.testing.assert_close(both[i:i + 1], alone, rtol=1e-4, atol=1e-4)


def area_and_mask_positive():
    left = run_node("ConditioningSetArea", conditioning=labels_cond("3"), width=64, height=128, x=0, y=0,
                    strength=1.0)[0]
    mask = torch.zeros(1, 16, 16)
    mask[:, :, 8:] = 1.0
    right = run_node("ConditioningSetMask", conditioning=labels_cond("7"), mask=mask, strength=1.0,
                     set_cond_area="default")[0]
    return run_node("ConditioningCombine", conditioning_1=left, conditioning_2=right)[0]


def test_area_and_masked_conditioning_go_through_comfyui(comfy):
    positive, negative = area_and_mask_positive(), labels_cond("null")
    model = digits_model()
    smc = run_node("RectiFlowGuiderSMCCFG", model=model, positive=positive, negative=negative, w=3.0, lam=5.0, k=0.0,
                   warmup_steps=0, gain="absolute", boundary_layer=0.0)[0]
    cfg = run_node("CFGGuider", model=model, positive=positive, negative=negative, cfg=3.0)[0]
    torch.testing.assert_close(sample(smc, batch=4), sample(cfg, batch=4), **TOL)
    raag = run_node("RectiFlowGuiderRAAG", model=model, positive=positive, negative=negative, w_max=6.0, alpha=4.0)[0]
    assert torch.isfinite(sample(raag, batch=4)).all()


def rectiflow_samplers():
    samplers = [("RectiFlowSamplerEuler", {})]
    return samplers + [("RectiFlowSamplerSelect", {"solver": s}) for s in SOLVERS if s != "adaptive"]


@pytest.mark.parametrize("node_id", ["RectiFlowGuiderSMCCFG", "RectiFlowGuiderRAAG"])
@pytest.mark.parametrize("sampler_node, options", rectiflow_samplers(),
                         ids=[o.get("solver", n) for n, o in rectiflow_samplers()])
def test_guiders_work_with_every_rectiflow_solver(comfy, node_id, sampler_node, options):
    out = sample(guider(node_id, **GUIDER_SETTINGS[node_id]), run_node(sampler_node, **options)[0], steps=8)
    assert torch.isfinite(out).all()
    assert accuracy(out, LABELS) >= 0.8


def test_adaptive_solver_keys_state_by_sigma(comfy):
    adaptive = run_node("RectiFlowSamplerAdaptive", rtol=1e-2, atol=1e-3, max_nfe=200)[0]
    smc = guider("RectiFlowGuiderSMCCFG", **GUIDER_SETTINGS["RectiFlowGuiderSMCCFG"])
    out = sample(smc, adaptive, sigmas=torch.tensor([1.0, 0.0]))
    assert accuracy(out, LABELS) >= 0.8
    assert torch.equal(out, sample(smc, adaptive, sigmas=torch.tensor([1.0, 0.0])))


@pytest.mark.parametrize("node_id", list(GUIDER_SETTINGS))
def test_every_guider_draws_the_requested_digits(comfy, node_id):
    out = sample(guider(node_id, **GUIDER_SETTINGS[node_id]), steps=10, batch=20)
    assert torch.isfinite(out).all()
    assert accuracy(out, LABELS) >= 0.85


def test_skipping_uncond_saves_model_calls(comfy):
    calls = []
    model = digits_model().clone()
    model.set_model_unet_function_wrapper(lambda apply, p: calls.append(p["input"].shape[0]) or apply(p["input"],
                                          p["timestep"], **p["c"]))
    sample(guider("RectiFlowGuiderRCFG", model=model, **GUIDER_SETTINGS["RectiFlowGuiderRCFG"]), steps=4, batch=2)
    assert sum(calls) == 4 + 2 + 2 + 2    # real CFG on the first step, one pass per step after it
    calls.clear()
    sample(guider("RectiFlowGuiderLimitedInterval", model=model, w=3.0, sigma_lo=0.3, sigma_hi=0.8), steps=4, batch=2)
    assert sum(calls) == 2 + 4 + 4 + 2    # sigmas 1, .75, .5, .25: uncond only inside [0.3, 0.8]


def test_schedule_position_and_run_restart(comfy):
    module, laws = guidance_module("guidance_runs"), guidance_module("guidance_laws")
    sigmas = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0])
    assert module.schedule_position(1.0, sigmas) == (0, 1.0, 0.75)
    assert module.schedule_position(0.6, sigmas) == (1, 0.75, 0.5)      # midpoint of step 1
    assert module.schedule_position(0.5, sigmas) == (2, 0.5, 0.25)      # a step's end sigma starts the next
    assert module.schedule_position(0.3, sigmas.flip(0)) == (1, 0.25, 0.5)   # inversion: ascending
    assert module.schedule_position(0.3, torch.tensor([1.0, 0.0])) is None
    run = module.RunState(laws.SMCLaw())
    run.state = "dirty"
    assert run.locate(0.5, sigmas).step == 2 and run.state == "dirty"
    assert run.locate(1.0, sigmas).step == 0 and run.state == laws.SMCLaw().initial_state()


BAD_PARAMETERS = [
    ("RectiFlowGuiderSMCCFG", dict(w=-1.0), "w must be"),
    ("RectiFlowGuiderSMCCFG", dict(w=math.nan), "^w: expected a finite number, got nan$"),
    ("RectiFlowGuiderSMCCFG", dict(lam=-0.5), "lam must be"),
    ("RectiFlowGuiderSMCCFG", dict(k=math.inf), "^k: expected a finite number, got inf$"),
    ("RectiFlowGuiderSMCCFG", dict(boundary_layer=-0.1), "^boundary_layer: expected 0"),
    ("RectiFlowGuiderSMCCFG", dict(boundary_layer=math.nan), "^boundary_layer: expected a finite number, got nan$"),
    ("RectiFlowGuiderSMCCFG", dict(gain="bang"), "gain must be one of"),
    ("RectiFlowGuiderRAAG", dict(alpha=-1.0), "alpha must be"),
    ("RectiFlowGuiderRAAG", dict(w_max=math.nan), "^w_max: expected a finite number, got nan$"),
    ("RectiFlowGuiderAPG", dict(momentum=1.0), "momentum must be"),
    ("RectiFlowGuiderLimitedInterval", dict(sigma_lo=0.9, sigma_hi=0.5), "sigma_lo must be <= sigma_hi"),
    ("RectiFlowGuiderCFGPP", dict(lam=1.5), "lam must be"),
    ("RectiFlowGuiderRCFG", dict(mode="twice"), "mode must be one of"),
    ("RectiFlowGuiderRescale", dict(phi=2.0), "phi must be"),
    ("RectiFlowGuiderCFGZeroStar", dict(zeroed_steps=-1), "zeroed_steps must be"),
    ("RectiFlowGuiderRectifiedCFGPP", dict(predictor_fraction=0.0), "predictor_fraction must be"),
    ("RectiFlowGuiderCFGMP", dict(damping=0.0), "damping must be"),
    ("RectiFlowGuiderCFGMP", dict(iterations=-2), "iterations must be"),
]


@pytest.mark.parametrize("node_id, bad, message", BAD_PARAMETERS, ids=[f"{n}-{m}" for n, _, m in BAD_PARAMETERS])
def test_bad_parameters_are_named(comfy, node_id, bad, message):
    with pytest.raises(ValueError, match=message):
        guider(node_id, **{**GUIDER_SETTINGS[node_id], **bad})


def test_non_flow_models_are_refused(comfy):
    eps_model = run_node("ModelSamplingDiscrete", model=digits_model(), sampling="eps", zsnr=False)[0]
    with pytest.raises(ValueError, match="model: RectiFlow guidance needs a flow"):
        guider("RectiFlowGuiderRAAG", model=eps_model, **GUIDER_SETTINGS["RectiFlowGuiderRAAG"])
    with pytest.raises(ValueError, match="model: RectiFlow guidance needs a flow"):
        run_node("RectiFlowPatchSMCCFG", model=eps_model, lam=5.0, k=0.2, warmup_steps=0, gain="absolute", boundary_layer=0.0)


def test_guider_leaves_the_model_untouched(comfy):
    model = digits_model()
    before = copy.deepcopy(model.model_options)
    sample(guider("RectiFlowGuiderSMCCFG", model=model, **GUIDER_SETTINGS["RectiFlowGuiderSMCCFG"]), steps=3,
           batch=2, latent=empty_latent(2))
    assert model.model_options == before and "sampler_cfg_function" not in model.model_options


def test_raag_ratio_over_batch_differs_only_for_batches(comfy):
    """The official script's one-ratio-per-batch mode: a different result for a batch of 10 mixed labels, the same
    for a batch of one; prompts without the (optional) input keep the per-sample default."""
    settings = GUIDER_SETTINGS["RectiFlowGuiderRAAG"]
    per_sample = sample(guider("RectiFlowGuiderRAAG", **settings))
    assert torch.equal(per_sample, sample(guider("RectiFlowGuiderRAAG", **settings, ratio_over="sample")))
    whole = sample(guider("RectiFlowGuiderRAAG", **settings, ratio_over="batch"))
    assert (whole - per_sample).abs().max() > 1e-3
    one = [sample(guider("RectiFlowGuiderRAAG", labels="3", **settings, ratio_over=mode), batch=1)
           for mode in ("sample", "batch")]
    torch.testing.assert_close(one[0], one[1])
