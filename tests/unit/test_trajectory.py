"""Reference trajectories, the BOSS dynamic programme and straightness diagnostics against independent references."""
import itertools

import torch

from rectiflow.samplers.trajectory import (Trajectory, euler_jump_costs, optimal_schedule, optimal_step_indices,
                                           path_cost, reference_trajectory, straightness_report)
from test_flow_euler import gaussian_denoiser, gaussian_exact


def test_reference_trajectory_follows_the_exact_gaussian_flow():
    x1 = torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    sigmas = torch.linspace(1, 0.05, 201, dtype=torch.float64)
    traj = reference_trajectory(gaussian_denoiser(0.5), x1, sigmas)
    for i in (50, 120, 200):
        torch.testing.assert_close(traj.states[i], gaussian_exact(x1, 0.5, float(sigmas[i])), atol=5e-5, rtol=0)


def test_dynamic_programme_equals_brute_force():
    gen = torch.Generator().manual_seed(3)
    n = 9
    costs = torch.rand(n, n, generator=gen, dtype=torch.float64)
    costs = torch.where(torch.arange(n)[None] > torch.arange(n)[:, None], costs, torch.full_like(costs, float("inf")))
    for steps in (1, 2, 3, 5, 8):
        best = min((path_cost(costs, [0, *mid, n - 1]), [0, *mid, n - 1])
                   for mid in itertools.combinations(range(1, n - 1), steps - 1))
        chosen = optimal_step_indices(costs, steps)
        assert path_cost(costs, chosen) == best[0], (steps, chosen, best)


def test_euler_jump_cost_is_zero_on_a_straight_flow():
    target = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    point_mass = lambda x, sigma, **_: target.expand_as(x)  # noqa: E731
    x1 = torch.randn(4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    traj = reference_trajectory(point_mass, x1, torch.linspace(1, 0, 17, dtype=torch.float64))
    costs = euler_jump_costs(traj)
    assert costs[torch.isfinite(costs)].max() < 1e-24
    report = straightness_report(traj)
    assert report.straightness < 1e-20 and report.recommended_steps == 1


def test_curved_flow_needs_more_steps_than_a_straight_one():
    x1 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    traj = reference_trajectory(gaussian_denoiser(0.05), x1, torch.linspace(1, 0, 65, dtype=torch.float64))
    report = straightness_report(traj, tolerance=0.01)
    assert report.straightness > 1e-3
    assert report.recommended_steps > 1
    errors = list(report.euler_error_by_steps.values())
    assert all(a >= b for a, b in zip(errors, errors[1:])), errors


def test_optimal_schedule_is_no_worse_than_uniform():
    x1 = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    traj: Trajectory = reference_trajectory(gaussian_denoiser(0.2), x1, torch.linspace(1, 0, 49, dtype=torch.float64))
    costs = euler_jump_costs(traj)
    for steps in (2, 4, 6, 8):
        uniform = list(range(0, 49, 48 // steps))
        assert path_cost(costs, optimal_step_indices(costs, steps)) <= path_cost(costs, uniform)


def test_optimal_schedules_are_strictly_decreasing_grid_points_ending_at_zero():
    from rectiflow.models.analytic_flows import GaussianMixtureFlow

    flow = GaussianMixtureFlow([[-2.0, 0.0], [2.0, 1.0]], std=0.2)
    x1 = torch.randn(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    grid = torch.linspace(1, 0, 13, dtype=torch.float64) ** 1.5
    traj = reference_trajectory(flow.model, x1, grid)
    for steps in range(1, 13):
        schedule = optimal_schedule(traj, steps)
        assert schedule.sigmas.shape == (steps + 1,) and schedule.sigmas.dtype == torch.float32
        assert float(schedule.sigmas[0]) == 1.0 and float(schedule.sigmas[-1]) == 0.0
        assert bool((schedule.sigmas.diff() < 0).all())
        assert torch.equal(schedule.sigmas, grid[schedule.indices].float())
        assert schedule.cost <= schedule.even_cost + 1e-15
