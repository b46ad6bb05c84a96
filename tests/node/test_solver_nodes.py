"""Sampler, schedule, inversion, reference-trajectory, optimal-steps and straightness nodes inside the real ComfyUI
(digits model)."""
import math

import pytest
import torch

from rectiflow.testing.comfy_host import (frontend_float, on_step_grid, pack_module, rectiflow_widgets,
                                         run_node)
from digits_helpers import DEFAULT_CFG, accuracy, digits_model, empty_latent, labels_cond
from rectiflow.samplers.solvers import SOLVERS

LABELS = list(range(10))


def cfg_guider(cfg=DEFAULT_CFG, labels="0 1 2 3 4 5 6 7 8 9"):
    return run_node("CFGGuider", model=digits_model(), positive=labels_cond(labels), negative=labels_cond("null"),
                    cfg=cfg)[0]


def sample(guider, sampler, sigmas, latent, seed=5, noise=None):
    noise = noise or run_node("RandomNoise", noise_seed=seed)[0]
    return run_node("SamplerCustomAdvanced", noise=noise, guider=guider, sampler=sampler, sigmas=sigmas,
                    latent_image=latent)[0]


def simple_sigmas(steps):
    return run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=steps, denoise=1.0)[0]


@pytest.mark.parametrize("solver", [s for s in SOLVERS if s != "adaptive"])
def test_every_solver_draws_the_requested_digits(comfy, solver):
    sampler = run_node("RectiFlowSamplerSelect", solver=solver)[0]
    out = sample(cfg_guider(), sampler, simple_sigmas(12), empty_latent(20))["samples"]
    assert torch.isfinite(out).all()
    assert accuracy(out, LABELS) >= 0.85


def test_adaptive_solver_respects_its_budget(comfy):
    SolverBudgetError = pack_module("samplers.solvers").SolverBudgetError
    good = run_node("RectiFlowSamplerAdaptive", rtol=1e-2, atol=1e-3, max_nfe=400)[0]
    out = sample(cfg_guider(), good, torch.tensor([1.0, 0.0]), empty_latent(10))["samples"]
    assert accuracy(out, LABELS) >= 0.85
    tight = run_node("RectiFlowSamplerAdaptive", rtol=1e-5, atol=1e-8, max_nfe=6)[0]
    with pytest.raises(SolverBudgetError, match="max_nfe"):
        sample(cfg_guider(), tight, torch.tensor([1.0, 0.0]), empty_latent(2))


def test_sde_at_zero_noise_equals_euler(comfy):
    sde = run_node("RectiFlowSamplerSDE", noise_scale=0.0, diffusion="sigma")[0]
    euler = run_node("RectiFlowSamplerSelect", solver="euler")[0]
    a = sample(cfg_guider(), sde, simple_sigmas(10), empty_latent(4))["samples"]
    b = sample(cfg_guider(), euler, simple_sigmas(10), empty_latent(4))["samples"]
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def round_trip_error(guider, clean: dict, solver: str, steps: int) -> float:
    sigmas = simple_sigmas(steps)
    sampler = run_node("RectiFlowSamplerSelect", solver=solver)[0]
    inverted, noise = run_node("RectiFlowInvert", guider=guider, sampler=sampler, sigmas=sigmas, latent_image=clean)
    assert torch.isfinite(inverted["samples"]).all()
    back = sample(guider, sampler, sigmas, clean, noise=noise)["samples"]
    return (back - clean["samples"]).pow(2).mean().sqrt().item()


def test_inversion_round_trip_beats_euler_and_tightens_with_nfe(comfy):
    guider = run_node("BasicGuider", model=digits_model(), conditioning=labels_cond("0 1 2 3 4 5 6 7 8 9"))[0]
    clean = sample(guider, run_node("RectiFlowSamplerSelect", solver="rk4")[0], simple_sigmas(32), empty_latent(10))
    euler = round_trip_error(guider, clean, "euler", 16)
    coarse, fine = round_trip_error(guider, clean, "rf_solver", 4), round_trip_error(guider, clean, "rf_solver", 16)
    assert fine < coarse
    assert fine < euler / 5, (euler, fine)
    assert fine < 0.01


def test_inversion_matches_the_solver_on_the_bare_network(comfy):
    """The node's ComfyUI path (guider, noise scaling, no 1/(1 - sigma) at sigma 1) equals the pure solver run on
    the network itself."""
    from safetensors.torch import load_file

    from rectiflow.testing.comfy_host import REPO
    from rectiflow.models.digits import DEFAULT_CONFIG, DigitsUNet, label_one_hot
    from rectiflow.samplers.solvers import sample_rf_solver

    net = DigitsUNet(**DEFAULT_CONFIG)
    net.load_state_dict(load_file(str(REPO / "weights" / "digits_rf.safetensors")))
    context = label_one_hot(torch.tensor([3, 7]))

    def bare_model(x, sigma, **_):
        return x - sigma.view(-1, 1, 1, 1) * net(x, sigma * 1000, context)

    clean = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(4)).clamp(-1, 1)
    sigmas = simple_sigmas(6)
    guider = run_node("BasicGuider", model=digits_model(), conditioning=labels_cond("3 7"))[0]
    inverted = run_node("RectiFlowInvert", guider=guider, sampler=run_node("RectiFlowSamplerSelect", solver="rf_solver")[0],
                        sigmas=sigmas, latent_image={"samples": clean})[0]["samples"]
    with torch.no_grad():
        expected = sample_rf_solver(bare_model, clean, sigmas.flip(0))
    torch.testing.assert_close(inverted, expected, atol=1e-4, rtol=1e-4)


def test_inversion_rejects_an_eps_model(comfy):
    eps_model = run_node("ModelSamplingDiscrete", model=digits_model(), sampling="eps", zsnr=False)[0]
    guider = run_node("BasicGuider", model=eps_model, conditioning=labels_cond("1"))[0]
    with pytest.raises(ValueError, match=r"guider: expected a flow \(CONST\) model"):
        run_node("RectiFlowInvert", guider=guider, sampler=run_node("RectiFlowSamplerSelect", solver="euler")[0],
                 sigmas=simple_sigmas(4), latent_image=empty_latent(1))


def reference(guider, latent, seed=1, fine_steps=32):
    """(trajectory, report) of the Reference Trajectory node."""
    return run_node("RectiFlowReferenceTrajectory", guider=guider, latent_image=latent, noise_seed=seed,
                    fine_steps=fine_steps)


def test_reference_trajectory_reports_its_model_calls(comfy):
    calls = []
    model = digits_model().clone()
    model.set_model_unet_function_wrapper(lambda apply, args: calls.append(1) or apply(args["input"], args["timestep"],
                                                                                      **args["c"]))
    guider = run_node("BasicGuider", model=model, conditioning=labels_cond("0 1 2 3"))[0]
    trajectory, report = reference(guider, empty_latent(4), fine_steps=16)
    assert len(calls) == 2 * 16 - 1
    assert f"{len(calls)} model calls" in report and "16 Heun steps" in report
    assert trajectory.states.shape[:2] == (17, 4) and trajectory.velocities.shape[:2] == (16, 4)


def test_optimal_steps_are_deterministic_and_better_than_uniform(comfy):
    from rectiflow.samplers.trajectory import euler_jump_costs, path_cost

    guider, latent = cfg_guider(), empty_latent(4)
    trajectory = reference(guider, latent)[0]
    first = run_node("RectiFlowOptimalSteps", trajectory=trajectory, steps=4)[0]
    again = run_node("RectiFlowOptimalSteps", trajectory=reference(guider, latent)[0], steps=4)[0]
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert first.shape == (5,) and first[0] == 1 and first[-1] == 0 and (first.diff() < 0).all()
    costs = euler_jump_costs(trajectory)
    chosen = [int((trajectory.sigmas - s).abs().argmin()) for s in first.double()]
    assert path_cost(costs, chosen) <= path_cost(costs, [0, 8, 16, 24, 32]) + 1e-12
    with pytest.raises(ValueError, match=r"steps: expected at most the reference trajectory's fine_steps \(32\)"):
        run_node("RectiFlowOptimalSteps", trajectory=trajectory, steps=33)


def test_straightness_inspector_reports_and_plots(comfy):
    trajectory = reference(cfg_guider(), empty_latent(4), seed=0, fine_steps=24)[0]
    image, steps, report = run_node("RectiFlowStraightnessInspector", trajectory=trajectory, tolerance=0.05)
    assert image.shape[0] == 1 and image.shape[-1] == 3 and image.std() > 0.01
    assert 1 <= steps <= 24
    assert f"recommended steps: {steps}" in report


@pytest.mark.parametrize("node, inputs", [
    ("RectiFlowFlowShiftScheduler", {"steps": 8, "shift": 3.0}),
    ("RectiFlowFluxShiftScheduler", {"steps": 8, "width": 1024, "height": 1024, "base_shift": 0.5, "max_shift": 1.15}),
    ("RectiFlowLinearQuadraticScheduler", {"steps": 8, "threshold_noise": 0.025}),
    ("RectiFlowBetaScheduler", {"steps": 8, "alpha": 0.6, "beta": 0.6}),
])
def test_schedule_nodes(comfy, node, inputs):
    sigmas = run_node(node, **inputs)[0]
    assert sigmas.shape == (9,) and float(sigmas[0]) == pytest.approx(1.0) and float(sigmas[-1]) == 0.0
    assert (sigmas.diff() < 0).all()
    with pytest.raises(ValueError, match="steps"):
        run_node(node, **{**inputs, "steps": 0})


@pytest.mark.parametrize("sigmas, message", [
    (torch.tensor([1.0, 0.4, 0.6, 0.0]), "sigmas: must be strictly decreasing"),
    (torch.tensor([1.0, float("nan"), 0.0]), "sigmas: contains NaN"),
    (torch.tensor([2.0, 1.0, 0.0]), r"sigmas: flow sigmas must lie in \[0, 1\]"),
])
def test_bad_sigmas_are_named_through_comfyui(comfy, sigmas, message):
    with pytest.raises(ValueError, match=message):
        sample(cfg_guider(), run_node("RectiFlowSamplerSelect", solver="heun")[0], sigmas, empty_latent(2))


def test_nan_latent_is_named(comfy):
    latent = {"samples": torch.full((2, 1, 16, 16), float("nan"))}
    with pytest.raises(ValueError, match="latent_image/noise: the starting latent contains NaN"):
        sample(cfg_guider(), run_node("RectiFlowSamplerSelect", solver="euler")[0], simple_sigmas(4), latent)


def test_reference_trajectory_rejects_an_eps_model(comfy):
    with pytest.raises(ValueError, match="guider: expected a flow"):
        reference(run_node("BasicGuider", model=run_node(
            "ModelSamplingDiscrete", model=digits_model(), sampling="eps", zsnr=False)[0],
            conditioning=labels_cond("1"))[0], empty_latent(1), seed=0, fine_steps=8)


@pytest.mark.parametrize("solver", [s for s in SOLVERS if s != "adaptive"])
def test_every_solver_reports_progress_and_previews_each_step(comfy, solver):
    import comfy.utils
    from comfy.cli_args import LatentPreviewMethod, args

    seen = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: seen.append((value, preview)))
    old, args.preview_method = args.preview_method, LatentPreviewMethod.Latent2RGB
    try:
        sample(cfg_guider(), run_node("RectiFlowSamplerSelect", solver=solver)[0], simple_sigmas(5), empty_latent(2))
    finally:
        args.preview_method = old
        comfy.utils.set_progress_bar_global_hook(None)
    assert [v for v, _ in seen] == [1, 2, 3, 4, 5]
    assert all(p is not None for _, p in seen)


def test_float_defaults_lie_on_the_step_grid_the_frontend_rounds_to(comfy):
    """Every RectiFlow FLOAT default survives the editor's rounding (it shows values rounded to the step)."""
    inputs = rectiflow_widgets(("FLOAT",))
    expected = {("RectiFlowSamplerAdaptive", "rtol"), ("RectiFlowSamplerAdaptive", "atol"),
                ("RectiFlowBetaScheduler", "alpha"), ("RectiFlowGuiderLimitedInterval", "sigma_lo")}
    assert {(n, i) for n, i, _ in inputs} >= expected
    for node_id, name, spec in inputs:
        where = f"{node_id}.{name}: default {spec['default']}, step {spec['step']}"
        assert on_step_grid(spec["default"], spec["step"]), where
        assert frontend_float(spec["default"], spec) == pytest.approx(spec["default"], rel=1e-12), where


@pytest.mark.parametrize("name, smallest", [("atol", 1e-8), ("rtol", 1e-5)])
def test_adaptive_tolerances_a_user_needs_survive_the_frontend(comfy, name, smallest):
    spec = comfy.NODE_CLASS_MAPPINGS["RectiFlowSamplerAdaptive"].INPUT_TYPES()["required"][name][1]
    for value in (smallest, 3 * smallest, 1e-3):
        assert frontend_float(value, spec) == pytest.approx(value, rel=1e-9), (name, value, spec)


def test_adams_options_node_is_the_select_solver_at_the_same_options(comfy):
    """RectiFlow Sampler Adams-Bashforth at order 3 / heun / ratio 2 is the Select node's ab3; order 2 with an Euler
    start is its ab2; the options change the result."""
    sigmas, latent = simple_sigmas(8), empty_latent(4)
    def run(sampler_node, **inputs):
        return sample(cfg_guider(), run_node(sampler_node, **inputs)[0], sigmas, latent)["samples"]
    ab3 = run("RectiFlowSamplerSelect", solver="ab3")
    torch.testing.assert_close(run("RectiFlowSamplerAdams", order=3, start="heun", max_step_ratio=2.0), ab3,
                               rtol=0, atol=0)
    ab2 = run("RectiFlowSamplerSelect", solver="ab2")
    torch.testing.assert_close(run("RectiFlowSamplerAdams", order=2, start="euler", max_step_ratio=2.0), ab2,
                               rtol=0, atol=0)
    assert not torch.equal(run("RectiFlowSamplerAdams", order=3, start="euler", max_step_ratio=2.0), ab3)


def test_adams_options_node_refuses_bad_options(comfy):
    with pytest.raises(ValueError, match="max_step_ratio"):
        run_node("RectiFlowSamplerAdams", order=3, start="heun", max_step_ratio=float("nan"))
    with pytest.raises(ValueError, match="start"):
        run_node("RectiFlowSamplerAdams", order=3, start="rk45", max_step_ratio=2.0)


@pytest.mark.parametrize("method", ["heun", "rk4"])
def test_runge_kutta_options_node_final_step(comfy, method):
    """final_step denoised is the Select node's solver bit for bit; exact changes the last step and still draws the
    requested digits."""
    sigmas, latent = simple_sigmas(6), empty_latent(10)
    def run(sampler_node, **inputs):
        return sample(cfg_guider(), run_node(sampler_node, **inputs)[0], sigmas, latent)["samples"]
    default = run("RectiFlowSamplerRungeKutta", method=method, final_step="denoised")
    torch.testing.assert_close(default, run("RectiFlowSamplerSelect", solver=method), rtol=0, atol=0)
    exact = run("RectiFlowSamplerRungeKutta", method=method, final_step="exact")
    assert not torch.equal(exact, default) and accuracy(exact, LABELS) >= 0.85
