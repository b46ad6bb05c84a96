"""Learning a few-step solver for one model end to end: fine references for training and held-out noises, the fit,
and the comparison against the fixed solvers on the held-out noises (pure torch)."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..solvers import SOLVERS
from ..trajectory import Trajectory, optimal_sigmas
from .fit import FitData, FitResult, fit_solver
from .reference import Reference, model_velocity, rk4_reference

Schedule = Callable[[int], torch.Tensor]  # steps -> steps + 1 sigmas from 1 to 0
# the fixed solvers compared in the report and plot (the others are never the best at a few steps)
FIXED_SOLVERS = tuple(name for name in ("euler", "fireflow", "ab2", "ab3", "pc") if name in SOLVERS)


@dataclass
class LearnReport:
    """The fitted solver with its training and held-out (validation) RMSE against the fine references, and the
    validation RMSE against NFE of the learned solver, Euler and the best fixed RectiFlow solver."""
    fit: FitResult
    nfe: int
    val_rmse: float
    reference_calls: int
    fit_calls: int
    seconds: float
    train_trajectories: int
    val_trajectories: int
    curves: dict[str, dict[int, float]] = field(default_factory=dict)
    best_fixed: dict[int, str] = field(default_factory=dict)  # NFE -> name of the best fixed solver there

    @property
    def train_rmse(self) -> float:
        return self.fit.train_rmse


class CountedVelocity:
    """A velocity function that counts model calls per batch row (sigma 0 is free: v = -x)."""

    def __init__(self, velocity: Callable[[torch.Tensor, float], torch.Tensor], tick: Callable[[], None]):
        self.velocity, self.tick, self.calls = velocity, tick, 0

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma != 0.0:
            self.calls += 1
        self.tick()
        return self.velocity(x, sigma)


def boss_start(reference: Reference, nfe: int) -> torch.Tensor | None:
    """Bellman-optimal Euler steps (BOSS, arXiv 2312.16414) on the reference grid, a starting schedule."""
    if nfe > len(reference.sigmas) - 1:
        return None
    traj = Trajectory(reference.sigmas, reference.states, reference.velocities[:-1])
    return optimal_sigmas(traj, nfe).double()


def fixed_solver_rmse(model, extra_args: dict, name: str, data: FitData, sigmas: torch.Tensor) -> float:
    """Validation RMSE of one fixed RectiFlow solver on `sigmas`."""
    finals = [SOLVERS[name].function(model, x, sigmas.to(x), extra_args=extra_args) for x in data.starts]
    return data.rmse(finals)


def steps_for(name: str, nfe: int) -> int:
    info = SOLVERS[name]
    return (nfe - info.nfe_extra) // info.nfe_per_step


def refine_iterations(evaluations: int) -> int:
    """Levenberg-Marquardt steps for a search budget: one per 10 schedules tried, at most 4."""
    return min(4, evaluations // 10)


def curve_nfes(nfe: int) -> list[int]:
    """The plot's NFEs: 1, 2, half the budget, the budget and twice it."""
    return sorted({1, 2, max(1, nfe // 2), nfe, 2 * nfe})


def learn_solver(model, extra_args: dict | None, train_starts: list[torch.Tensor], val_starts: list[torch.Tensor],
                 nfe: int, evaluations: int, reference_grid: torch.Tensor, schedule: Schedule,
                 progress: Callable[[int, int], None] | None = None) -> LearnReport:
    """Fit an `nfe`-call solver of `model` (ComfyUI denoiser signature) on `train_starts` (noise batches at sigma 1),
    validate it on `val_starts`, and compare it with Euler and the fixed solvers on `schedule`.

    Cost in model calls per batch: about 4 * len(reference_grid) per reference, nfe * evaluations for the fit, as
    much again at half the budget (the plot's second learned point), and the fixed solvers' NFE for the plot."""
    extra_args = {} if extra_args is None else extra_args
    started = time.perf_counter()
    half = nfe // 2 if nfe >= 2 else 0
    nfes = curve_nfes(nfe)
    fixed_runs = [(n, name) for n in nfes for name in FIXED_SOLVERS if steps_for(name, n) >= 1]
    total = [(len(train_starts) + len(val_starts)) * (len(reference_grid) - 1) + evaluations
             + (evaluations // 2 if half else 0) + len(fixed_runs)]
    done = [0]

    def tick() -> None:
        done[0] += 1
        if progress is not None:
            progress(min(done[0], total[0]), total[0])

    base = model_velocity(model, extra_args)
    counted = CountedVelocity(base, lambda: None)
    train = FitData(train_starts, [rk4_reference(counted, x, reference_grid, tick) for x in train_starts])
    val = FitData(val_starts, [rk4_reference(counted, x, reference_grid, tick) for x in val_starts])
    reference_calls, counted.calls = counted.calls, 0

    def fit_at(n: int, budget: int) -> FitResult:
        starts = {"simple": schedule(n).double().cpu()}
        boss = boss_start(train.references[0], n)
        if boss is not None:
            starts["optimal steps"] = boss
        return fit_solver(counted, train, n, max(budget, len(starts)), starts, progress=tick,
                          refine_iterations=refine_iterations(budget))

    result = fit_at(nfe, evaluations)
    val_rmse = val.rmse([result.solver.run(base, x) for x in val_starts])
    curves: dict[str, dict[int, float]] = {"learned": {nfe: val_rmse}, "euler": {}, "best fixed": {}}
    if half:
        small = fit_at(half, evaluations // 2)
        curves["learned"][half] = val.rmse([small.solver.run(base, x) for x in val_starts])
    fit_calls = counted.calls
    best_fixed: dict[int, str] = {}
    for n, name in fixed_runs:
        error = fixed_solver_rmse(model, extra_args, name, val, schedule(steps_for(name, n)).double())
        tick()
        if name == "euler":
            curves["euler"][n] = error
        if error < curves["best fixed"].get(n, float("inf")):
            curves["best fixed"][n], best_fixed[n] = error, name
    curves["learned"] = dict(sorted(curves["learned"].items()))
    return LearnReport(result, nfe, val_rmse, reference_calls, fit_calls, time.perf_counter() - started,
                       sum(x.shape[0] for x in train_starts), sum(x.shape[0] for x in val_starts), curves,
                       best_fixed)
