"""Fine reference trajectories, Bellman-optimal step selection and straightness diagnostics (pure torch).

A reference trajectory is a fine Heun solve that records the state x_i and the velocity v_i at every grid
sigma. From it, the cost of jumping from grid point i to grid point j with one Euler step is
`c(i, j) = mean ||x_i + (s_j - s_i) v_i - x_j||^2` (no further model calls), and the step selection that
minimises the summed cost for a step budget is a shortest path found by dynamic programming, as in
BOSS (Bellman optimal step sizes, arXiv 2312.16414, eq. 7).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .schedules import validate_sigmas
from .solvers import HEUN, compute_dtype, flow_velocity, runge_kutta_step


@dataclass
class Trajectory:
    sigmas: torch.Tensor  # [N + 1] grid, float64
    states: torch.Tensor  # [N + 1, B, ...] x at each grid sigma
    velocities: torch.Tensor  # [N, B, ...] v(x_i, s_i) for i < N
    model_calls: int = 0  # guider evaluations the solve cost (0 when unknown)


@torch.no_grad()
def reference_trajectory(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                         callback: Callable[[int, int], None] | None = None) -> Trajectory:
    """Heun (RK2) solve on the fine grid `sigmas`, recording x_i and v(x_i, s_i); the last step uses Euler into 0."""
    extra_args = {} if extra_args is None else extra_args
    sigmas = validate_sigmas(sigmas).to(x.device)
    x = x.to(compute_dtype(x))
    velocity = lambda y, sigma: flow_velocity(model, y, sigma, extra_args)  # noqa: E731
    states, velocities = [x.cpu()], []
    for i in range(len(sigmas) - 1):
        v, _ = velocity(x, sigmas[i])
        x = runge_kutta_step(velocity, x, sigmas[i], sigmas[i + 1], v, HEUN)
        velocities.append(v.cpu())
        states.append(x.cpu())
        if callback is not None:
            callback(i + 1, len(sigmas) - 1)
    return Trajectory(sigmas.double().cpu(), torch.stack(states).double(), torch.stack(velocities).double())


Progress = Callable[[int, int], None] | None   # (rows done, rows in all); may raise to interrupt


def jump_cost_work(traj: Trajectory) -> int:
    """Values compared to fill the jump cost matrix: N (N + 1) / 2 jumps over the whole batch each."""
    n = len(traj.sigmas) - 1
    return n * (n + 1) // 2 * traj.states[0].numel()


def euler_jump_costs(traj: Trajectory, progress: Progress = None) -> torch.Tensor:
    """[N + 1, N + 1] matrix c(i, j) = mean squared error of one Euler jump i -> j against the reference (inf if j <= i)."""
    n = len(traj.sigmas)
    costs = torch.full((n, n), float("inf"), dtype=torch.float64)
    flat_x = traj.states.flatten(1)
    flat_v = traj.velocities.flatten(1)
    for i in range(n - 1):
        ds = (traj.sigmas[i + 1:] - traj.sigmas[i])[:, None]
        predicted = flat_x[i][None] + ds * flat_v[i][None]
        costs[i, i + 1:] = (predicted - flat_x[i + 1:]).pow(2).mean(dim=1)
        if progress is not None:
            progress(i + 1, n - 1)
    return costs


def optimal_step_indices(costs: torch.Tensor, steps: int) -> list[int]:
    """Grid indices 0 = i_0 < ... < i_steps = N minimising sum c(i_k, i_{k+1}) (BOSS dynamic programme)."""
    n = costs.shape[0]
    if not 1 <= steps <= n - 1:
        raise ValueError(f"steps: expected 1..{n - 1} for a reference grid of {n - 1} intervals, got {steps}")
    best = torch.full((steps + 1, n), float("inf"), dtype=torch.float64)
    parent = torch.zeros((steps + 1, n), dtype=torch.long)
    best[0, 0] = 0.0
    for k in range(1, steps + 1):
        totals = best[k - 1][:, None] + costs  # [from, to]
        best[k], parent[k] = totals.min(dim=0)
    path = [n - 1]
    for k in range(steps, 0, -1):
        path.append(int(parent[k, path[-1]]))
    return path[::-1]


def optimal_sigmas(traj: Trajectory, steps: int) -> torch.Tensor:
    """The `steps`-step schedule (steps + 1 sigmas, float32) chosen from the reference grid."""
    return traj.sigmas[optimal_step_indices(euler_jump_costs(traj), steps)].float()


def path_cost(costs: torch.Tensor, indices: list[int]) -> float:
    return float(sum(costs[a, b] for a, b in zip(indices[:-1], indices[1:])))


@dataclass
class OptimalSchedule:
    sigmas: torch.Tensor  # [steps + 1] float32, strictly decreasing, grid points of the reference
    indices: list[int]  # their positions on the reference grid
    cost: float  # summed Euler jump cost of the chosen steps
    even_cost: float  # the same for the evenly spaced grid indices with as many steps


def optimal_schedule(traj: Trajectory, steps: int, progress: Progress = None) -> OptimalSchedule:
    """The BOSS schedule (arXiv 2312.16414) for `steps` Euler steps with its cost and that of even grid spacing."""
    costs = euler_jump_costs(traj, progress)
    indices = optimal_step_indices(costs, steps)
    n = len(traj.sigmas) - 1
    even = sorted({round(k * n / steps) for k in range(steps + 1)})
    return OptimalSchedule(traj.sigmas[indices].float(), indices, path_cost(costs, indices), path_cost(costs, even))


@dataclass
class StraightnessReport:
    sigmas: torch.Tensor  # [N] start sigma of each fine step
    curvature: torch.Tensor  # [N - 1] ||v_{i+1} - v_i|| / (|ds| ||v_i||)
    deviation: torch.Tensor  # [N] ||v_i - chord|| / ||chord||, chord = (x_N - x_0) / (s_N - s_0)
    straightness: float  # mean over the grid of deviation^2 (Liu et al. arXiv 2209.03003, S(Z))
    euler_error_by_steps: dict[int, float]  # optimal-schedule Euler RMSE for a few budgets
    recommended_steps: int


def _norms(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(2).norm(dim=-1).mean(dim=-1) if t.ndim > 2 else t.norm(dim=-1)


def straightness_report(traj: Trajectory, tolerance: float = 0.1,
                        budgets: tuple[int, ...] = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32),
                        progress: Progress = None) -> StraightnessReport:
    """Per-step curvature and distance from a straight line; recommend the fewest Euler steps whose
    terminal RMSE on the optimal schedule is below `tolerance` times the RMS size of the result."""
    v, x, s = traj.velocities, traj.states, traj.sigmas
    ds = (s[1:] - s[:-1]).abs()
    curvature = _norms(v[1:] - v[:-1]) / (ds[:-1] * _norms(v[:-1]).clamp_min(1e-12))
    chord = (x[-1] - x[0]) / (s[-1] - s[0])
    deviation = _norms(v - chord[None]) / _norms(chord[None]).clamp_min(1e-12)
    costs = euler_jump_costs(traj, progress)
    n = len(s) - 1
    scale = x[-1].pow(2).mean().sqrt().clamp_min(1e-12)
    errors = {}
    for k in (b for b in budgets if b <= n):
        idx = optimal_step_indices(costs, k)
        errors[k] = float(terminal_euler_error(traj, idx) / scale)
    recommended = next((k for k, e in errors.items() if e <= tolerance), max(errors))
    return StraightnessReport(s[:-1].float(), curvature.float(), deviation.float(),
                              float((deviation ** 2 * ds).sum() / ds.sum()), errors, recommended)


def terminal_euler_error(traj: Trajectory, indices: list[int]) -> torch.Tensor:
    """RMSE at the end of an Euler solve restricted to grid points `indices`, using the reference velocities
    at the visited grid points (exact where the Euler path stays on the reference)."""
    x = traj.states[indices[0]]
    for a, b in zip(indices[:-1], indices[1:]):
        x = x + (traj.sigmas[b] - traj.sigmas[a]) * traj.velocities[a]
    return (x - traj.states[indices[-1]]).pow(2).mean().sqrt()
