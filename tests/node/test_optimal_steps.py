"""Optimal Steps as users need it (issue 9, part 4): the reference follows the NOISE that will be sampled, the report
says what the reference cost, and the schedule is strictly decreasing grid points ending at 0."""
from __future__ import annotations

import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from digits_helpers import digits_model, empty_latent, labels_cond
from guidance_helpers import fixed_noise


def basic_guider(model=None):
    return run_node("BasicGuider", model=model or digits_model(), conditioning=labels_cond("0 1 2 3"))[0]


def reference(noise=None, seed: int = 0, fine_steps: int = 16, guider=None, batch: int = 4):
    inputs = {"noise": noise} if noise is not None else {}
    return run_node("RectiFlowReferenceTrajectory", guider=guider or basic_guider(), latent_image=empty_latent(batch),
                    noise_seed=seed, fine_steps=fine_steps, **inputs)


def test_the_reference_starts_from_the_noise_input(comfy):
    noise = fixed_noise(4, seed=3)
    trajectory, report = reference(noise)
    torch.testing.assert_close(trajectory.states[0].float(), noise.noise, rtol=0, atol=0)
    assert "noise from the noise input (seed 0)" in report
    seeded = reference(seed=5)[0]
    assert not torch.equal(seeded.states[0], trajectory.states[0])


def test_a_random_noise_input_gives_the_trajectory_of_its_seed(comfy):
    """RandomNoise draws exactly what noise_seed draws, so both ways describe the noise SamplerCustomAdvanced uses."""
    from_input = reference(run_node("RandomNoise", noise_seed=7)[0], seed=0)[0]
    from_seed = reference(seed=7)[0]
    torch.testing.assert_close(from_input.states, from_seed.states, rtol=0, atol=0)


def test_noise_of_another_shape_is_refused_by_name(comfy):
    with pytest.raises(ValueError, match=r"^noise: expected noise of the latent's shape \[4, 1, 16, 16\], got "
                                         r"\[2, 1, 16, 16\]"):
        reference(fixed_noise(2))


def test_optimal_steps_report_the_reference_cost(comfy):
    calls = []
    model = digits_model().clone()
    model.set_model_unet_function_wrapper(lambda apply, args: calls.append(1) or apply(args["input"], args["timestep"],
                                                                                      **args["c"]))
    trajectory = reference(fixed_noise(4), fine_steps=16, guider=basic_guider(model))[0]
    sigmas, report = run_node("RectiFlowOptimalSteps", trajectory=trajectory, steps=4)
    assert len(calls) == 2 * 16 - 1
    assert f"the reference took {len(calls)} model calls" in report
    assert "optimal 4 steps: sigmas " + ", ".join(f"{float(s):.4f}" for s in sigmas) in report


@pytest.mark.parametrize("steps", [1, 3, 7, 16])
def test_optimal_sigmas_are_strictly_decreasing_grid_points_ending_at_zero(comfy, steps):
    trajectory = reference(fixed_noise(4), fine_steps=16)[0]
    sigmas = run_node("RectiFlowOptimalSteps", trajectory=trajectory, steps=steps)[0]
    assert sigmas.shape == (steps + 1,) and sigmas.dtype == torch.float32
    assert float(sigmas[0]) == float(trajectory.sigmas[0]) and float(sigmas[-1]) == 0.0
    assert bool((sigmas.diff() < 0).all())
    grid = trajectory.sigmas.float()
    assert all(bool((grid == s).any()) for s in sigmas)


def test_the_schedule_beats_even_spacing_on_its_own_measure(comfy):
    trajectory = reference(fixed_noise(4), fine_steps=32)[0]
    report = run_node("RectiFlowOptimalSteps", trajectory=trajectory, steps=4)[1]
    line = next(text for text in report.splitlines() if text.startswith("predicted Euler error"))
    ours, even = (float(part.rsplit(" ", 1)[-1]) for part in line.split(", evenly spaced grid points:"))
    assert ours <= even


def test_a_reference_too_large_to_keep_is_refused_by_name(comfy):
    with pytest.raises(ValueError, match=r"^fine_steps / latent_image: a reference of 1000 steps on a latent of "
                                         r"shape \[4096, 1, 16, 16\] keeps 15.6 GiB .* expected at most 8 GiB"):
        reference(fine_steps=1000, batch=4096)


def test_the_jump_cost_progress_counts_every_row(comfy):
    from rectiflow.samplers.trajectory import euler_jump_costs, jump_cost_work
    trajectory = reference(fixed_noise(4), fine_steps=16)[0]
    seen = []
    euler_jump_costs(trajectory, lambda done, total: seen.append((done, total)))
    assert seen == [(i, 16) for i in range(1, 17)]
    assert jump_cost_work(trajectory) == 16 * 17 // 2 * 4 * 256
