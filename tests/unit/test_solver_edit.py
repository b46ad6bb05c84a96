"""RF-Solver-Edit (arXiv 2411.04746) and FireFlow (arXiv 2412.07517) editing against the official sampling loops,
written out independently here in their own form (time t = sigma, a feature key (t, second_order)), on an analytic
class-conditional flow with exact velocities."""
import pytest
import torch

from rectiflow.models.analytic_flows import four_mode_mixture
from rectiflow.samplers.editing import check_solver_edit_options, solver_edit, solver_inversion
from rectiflow.samplers.solvers import sample_fireflow, sample_rf_solver

FLOW = four_mode_mixture(std=0.3)
SOURCE_MODE, TARGET_MODE = 0, 2
SIGMAS = torch.linspace(1, 0, 21, dtype=torch.float64)
pytestmark = pytest.mark.usefixtures("one_thread")


def conditioned(mode: int):
    """Exact velocity of the mixture conditioned on one mode, v(x, 0) = -x exact (as the nodes' velocities)."""
    def v(x: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma == 0:
            return -x
        logits = torch.full((x.shape[0], 4), -30.0, dtype=torch.float64)
        logits[:, mode] = 0.0
        return FLOW.velocity(x, sigma, logits)
    return v


def source_points(n: int = 16) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    return FLOW.means[SOURCE_MODE] + 0.3 * torch.randn(n, 2, dtype=torch.float64, generator=gen)


def official_denoise(model, img, timesteps, inverse, info, solver):
    """The official denoise_rf_solver / denoise_fireflow loops: `model(img, t, info)` returns the velocity and sees
    info['t'] (the feature key's time), info['second_order'], info['inject'] and info['inverse']."""
    inject_list = [True] * info["inject_step"] + [False] * (len(timesteps[:-1]) - info["inject_step"])
    if inverse:
        timesteps = timesteps[::-1]
        inject_list = inject_list[::-1]
    next_step_velocity = None
    for i, (t_curr, t_prev) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        info["t"] = t_prev if inverse else t_curr
        info["inverse"] = inverse
        info["second_order"] = False
        info["inject"] = inject_list[i]
        if solver == "fireflow" and next_step_velocity is not None:
            pred = next_step_velocity
        else:
            pred = model(img, t_curr, info)
        img_mid = img + (t_prev - t_curr) / 2 * pred
        info["second_order"] = True
        pred_mid = model(img_mid, t_curr + (t_prev - t_curr) / 2, info)
        if solver == "fireflow":
            next_step_velocity = pred_mid
            img = img + (t_prev - t_curr) * pred_mid
        else:
            first_order = (pred_mid - pred) / ((t_prev - t_curr) / 2)
            img = img + (t_prev - t_curr) * pred + 0.5 * (t_prev - t_curr) ** 2 * first_order
    return img


def official_edit(v_src, v_tar, x_src, timesteps, inject, solver):
    """edit.py: inversion with the source, regeneration with the target; returns the result and the feature
    events (store/inject, key t, second_order) of the official attention code."""
    events = []

    def model_for(v):
        def model(img, t, info):
            if info["inject"]:
                events.append(("store" if info["inverse"] else "inject", info["t"], info["second_order"]))
            return v(img, t)
        return model
    info = {"inject_step": inject}
    z = official_denoise(model_for(v_src), x_src, timesteps, True, info, solver)
    return official_denoise(model_for(v_tar), z, timesteps, False, info, solver), events


@pytest.mark.parametrize("solver", ["rf_solver", "fireflow"])
@pytest.mark.parametrize("inject", [0, 3, 20, 25])
def test_the_edit_and_its_feature_sharing_match_the_official_loops(solver, inject):
    x_src, values = source_points(), SIGMAS.tolist()
    seen = []

    def hook(mode, shared, stage):
        if mode != "off":
            seen.append((mode, values[shared], bool(stage)))
    ours = solver_edit(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), x_src, SIGMAS, solver, inject, hook)
    reference, events = official_edit(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), x_src, values, inject,
                                      solver)
    assert torch.allclose(ours, reference, atol=1e-12, rtol=0)
    assert seen == events
    stored = {tuple(key) for mode, *key in events if mode == "store"}
    missing = {tuple(key) for mode, *key in events if mode == "inject"} - stored
    # FireFlow's first regeneration start has no stored twin (the inversion reuses its last start velocity)
    assert missing == (set() if solver == "rf_solver" or inject == 0 else {(1.0, False)})


@pytest.mark.parametrize("solver, sampler", [("rf_solver", sample_rf_solver), ("fireflow", sample_fireflow)])
def test_inversion_is_the_packs_solver_on_the_flipped_schedule(solver, sampler):
    x_src = source_points()
    ours = solver_inversion(lambda x, s: -x if s == 0 else FLOW.velocity(x, s), x_src, SIGMAS, solver)
    assert torch.allclose(ours, sampler(FLOW.model, x_src, SIGMAS.flip(0)), atol=1e-10, rtol=0)


@pytest.mark.parametrize("solver, steps, bound", [("rf_solver", 20, 3e-4), ("rf_solver", 40, 4e-5),
                                                  ("fireflow", 20, 2e-3), ("fireflow", 40, 3e-4)])
def test_equal_conditioning_returns_the_source_to_the_solvers_accuracy(solver, steps, bound):
    """Inversion then regeneration under one velocity is the identity up to the solver's error (measured max error:
    rf_solver 1.0e-4 at 20 steps, 1.3e-5 at 40; fireflow 7.7e-4, 1.0e-4; at least second order)."""
    x_src = source_points()
    sigmas = torch.linspace(1, 0, steps + 1, dtype=torch.float64)
    out = solver_edit(conditioned(SOURCE_MODE), conditioned(SOURCE_MODE), x_src, sigmas, solver)
    assert (out - x_src).abs().max().item() < bound


def test_the_edit_moves_the_source_to_the_target_mode():
    out = solver_edit(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), source_points(), SIGMAS)
    assert (torch.cdist(out, FLOW.means).argmin(1) == TARGET_MODE).float().mean().item() >= 0.9


@pytest.mark.parametrize("solver, calls", [("rf_solver", 4 * 20 - 1), ("fireflow", 2 * 20 + 1)])
def test_model_calls_per_edit(solver, calls):
    count = [0]

    def counted(v):
        def velocity(x, sigma):
            count[0] += sigma != 0
            return v(x, sigma)
        return velocity
    solver_edit(counted(conditioned(SOURCE_MODE)), counted(conditioned(TARGET_MODE)), source_points(), SIGMAS, solver)
    assert count[0] == calls


def test_progress_steps_run_over_both_passes():
    seen = []
    solver_edit(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), source_points(), SIGMAS,
                callback=lambda i, x, d, s: seen.append(i))
    assert seen == list(range(40))


@pytest.mark.parametrize("solver, inject, name", [("euler", 0, "solver"), ("rf_solver", -1, "inject_steps")])
def test_bad_options_are_named(solver, inject, name):
    with pytest.raises(ValueError, match=name):
        check_solver_edit_options(solver, inject)
    with pytest.raises(ValueError, match=name):
        solver_edit(conditioned(0), conditioned(1), source_points(), SIGMAS, solver, inject)


def test_a_flipped_schedule_is_refused():
    with pytest.raises(ValueError, match="sigmas: an edit runs from noise to the image"):
        solver_edit(conditioned(0), conditioned(1), source_points(), SIGMAS.flip(0))
