"""samplers/reflow_distilled.py (pure torch, no ComfyUI) against the official code's expressions: PeRFlow
(arXiv 2405.07510, magic-research/piecewise-rectified-flow src/scheduler_perflow.py) and Rectified Diffusion
(arXiv 2410.07303, diffusers' DDIMScheduler with timestep_spacing="trailing"), written out in reflow_official.py."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reflow_official import official_perflow_timesteps, official_velocity, official_window

from rectiflow.samplers.reflow_distilled import (
    diffusers_alphas_cumprod, diffusers_betas, perflow_sigmas, perflow_timesteps, perflow_velocity,
    perflow_window_index, trailing_ddim_sigmas, trailing_matches_ddim_step, trailing_timesteps,
)


@pytest.mark.parametrize("steps", [4, 5, 6, 7, 8, 9, 13, 16, 25, 50, 111, 200, 996])
def test_perflow_timesteps_are_the_official_split(steps):
    assert perflow_timesteps(steps) == official_perflow_timesteps(steps)


def test_perflow_sigmas_are_the_official_times_then_zero():
    sigmas = perflow_sigmas(7)
    official = torch.tensor(official_perflow_timesteps(7) + [0]) / 1000
    assert sigmas.dtype == torch.float32 and torch.equal(sigmas, official)
    assert perflow_timesteps(6) == [1000, 875, 750, 625, 500, 250]     # the first windows get the remainder


@pytest.mark.parametrize("steps", [0, 3, -1, 2.5, True, 997])
def test_perflow_timesteps_refuse_too_few_or_repeating_steps(steps):
    with pytest.raises(ValueError, match="steps"):
        perflow_timesteps(steps)


def test_window_lookup_matches_time_windows_everywhere():
    times = [k / 1000 for k in range(1, 1001)] + [0.75 + 5e-5, 0.5 - 5e-5, 0.25 + 2e-4]
    ours = perflow_window_index(torch.tensor(times, dtype=torch.float32)).tolist()
    assert ours == [official_window(torch.tensor(t, dtype=torch.float32)) for t in times]
    assert ours[748] == ours[749] == 1 and ours[750] == ours[999] == 0    # t = 0.75 starts window 1


@pytest.mark.parametrize("prediction", ["diff_eps", "ddim_eps"])
def test_perflow_velocity_is_the_official_step(prediction):
    ac = diffusers_alphas_cumprod("scaled_linear")
    gen = torch.Generator().manual_seed(0)
    for timestep in [1000, 916, 750, 749, 500, 333, 250, 83, 1]:
        x, eps = torch.randn(2, 4, 3, 3, generator=gen), torch.randn(2, 4, 3, 3, generator=gen)
        ours = perflow_velocity(eps, x, torch.full((2,), timestep) / 1000, prediction, ac)
        torch.testing.assert_close(ours, official_velocity(eps, x, timestep, prediction, ac), rtol=0, atol=0)


def test_perflow_velocity_differs_between_parameterisations_and_refuses_others():
    ac = diffusers_alphas_cumprod("scaled_linear")
    x, eps, t = torch.randn(1, 4, 2, 2), torch.randn(1, 4, 2, 2), torch.tensor([0.6])
    assert not torch.allclose(perflow_velocity(eps, x, t, "diff_eps", ac), perflow_velocity(eps, x, t, "ddim_eps", ac))
    with pytest.raises(ValueError, match="prediction"):
        perflow_velocity(eps, x, t, "epsilon", ac)


def test_diffusers_betas_linear_is_not_comfyui_linear():
    linear, scaled = diffusers_betas("linear"), diffusers_betas("scaled_linear")
    assert torch.equal(linear, torch.linspace(0.00085, 0.012, 1000))
    assert torch.equal(scaled, torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000) ** 2)
    assert (linear - scaled).abs().max() > 1e-3
    with pytest.raises(ValueError, match="beta_schedule"):
        diffusers_betas("cosine")


def test_trailing_timesteps_are_diffusers_for_every_step_count():
    for steps in range(1, 1001):
        official = np.round(np.arange(1000, 0, -1000 / steps)).astype(np.int64) - 1   # DDIMScheduler, "trailing"
        assert trailing_timesteps(steps) == official.tolist(), steps


def test_trailing_matches_ddim_step_exactly_for_divisors_of_1000():
    exact = [n for n in range(1, 101) if trailing_matches_ddim_step(n)]
    assert exact == [1, 2, 4, 5, 8, 10, 20, 25, 40, 50, 100]
    assert not trailing_matches_ddim_step(3) and not trailing_matches_ddim_step(16)


def test_trailing_ddim_sigmas_pick_the_table_and_the_final_alpha():
    table = torch.linspace(0.03, 14.6, 1000)
    sigmas = trailing_ddim_sigmas(table, 4)
    assert torch.equal(sigmas, torch.stack([table[999], table[749], table[499], table[249], table[0]]))
    assert trailing_ddim_sigmas(table, 2, set_alpha_to_one=True).tolist()[-1] == 0.0
