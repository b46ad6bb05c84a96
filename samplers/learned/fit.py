"""Fitting a learned few-step solver to fine reference trajectories, without gradients through the model (pure torch).

The solver is BNS's non-stationary multistep form (arXiv 2403.01329), x_{i+1} = a_i x_0 + sum_{j <= i} b_ij u_j.
For fixed time steps the update is linear in its coefficients, so row i is fitted by least squares, in order, with
the velocities u_j taken at the solver's own states: x_{i+1} is matched to the reference state at t_{i+1} (the last
row to the reference's endpoint). This is the teacher-forced local fit of Bespoke Solvers (arXiv 2310.19075, the
local truncation error bound of their section 3) with BNS's coefficients. A small ridge pulls each row towards
Euler's, which is where the fit starts.

The time steps are fitted as in LD3 (arXiv 2405.15506): the final-state error on the training noises is minimised
over the schedule, parameterised monotone as t_i = 1 - cumsum(softmax(theta))_i (t_0 = 1, t_N = 0), here by a
derivative-free Nelder-Mead search, each evaluation refitting the coefficients (N model calls per batch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .reference import Reference, Velocity
from .solver import LearnedSolver, euler_rows

RIDGE = 1e-6  # relative to the mean diagonal of each row's Gram matrix
Progress = Callable[[], None] | None


@dataclass(frozen=True)
class FitData:
    """Starting noises (x at sigma 1) and their fine references, one entry per batch."""
    starts: list[torch.Tensor]
    references: list[Reference]

    def rmse(self, finals: list[torch.Tensor]) -> float:
        """Root mean square error of final states against the references' endpoints over every batch."""
        total = sum(float((f.double().cpu() - r.final).pow(2).sum()) for f, r in zip(finals, self.references))
        count = sum(r.final.numel() for r in self.references)
        return (total / count) ** 0.5


def sigmas_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """[N] logits -> [N + 1] strictly decreasing sigmas, exactly 1 first and 0 last."""
    increments = torch.softmax(logits.double(), dim=0)
    sigmas = torch.cat([torch.ones(1, dtype=torch.float64), 1.0 - torch.cumsum(increments, dim=0)])
    sigmas[-1] = 0.0
    return sigmas


def logits_from_sigmas(sigmas: torch.Tensor) -> torch.Tensor:
    """Inverse of sigmas_from_logits (up to a constant), for starting the search on a given schedule."""
    increments = (sigmas[:-1] - sigmas[1:]).double().clamp_min(1e-9)
    logits = increments.log()
    return logits - logits[0]


def fit_row(design: list[torch.Tensor], targets: list[torch.Tensor], prior: torch.Tensor) -> torch.Tensor:
    """Least-squares coefficients c of sum_k |design_k c - target_k|^2 + ridge |c - prior|^2.

    design_k: [n_k, P] columns (x_0, u_0, ..., u_i) of batch k flattened; targets_k: [n_k]."""
    gram = sum(d.T @ d for d in design)
    rhs = sum(d.T @ t for d, t in zip(design, targets))
    ridge = RIDGE * float(gram.diagonal().mean())
    eye = torch.eye(gram.shape[0], dtype=gram.dtype)
    return torch.linalg.solve(gram + ridge * eye, rhs + ridge * prior)


@torch.no_grad()
def fit_coefficients(velocity: Velocity, sigmas: torch.Tensor, data: FitData
                     ) -> tuple[LearnedSolver, list[torch.Tensor]]:
    """Row-by-row least squares on fixed `sigmas` (the solver, and its final states per batch)."""
    priors = euler_rows(sigmas)
    columns = [[x.double().flatten().cpu()] for x in data.starts]
    states = [x for x in data.starts]
    rows = []
    for i in range(len(sigmas) - 1):
        for k, x in enumerate(states):
            columns[k].append(velocity(x, float(sigmas[i])).double().flatten().cpu())
        design = [torch.stack(c, dim=1) for c in columns]
        targets = [r.at(float(sigmas[i + 1])).flatten() for r in data.references]
        row = fit_row(design, targets, priors[i])
        rows.append(row)
        states = [(d @ row).reshape(x.shape).to(x) for d, x in zip(design, data.starts)]
    return LearnedSolver(sigmas.clone(), tuple(rows)), states


def nelder_mead(objective: Callable[[torch.Tensor], float], start: torch.Tensor, evaluations: int,
                step: float = 0.4, progress: Progress = None) -> tuple[torch.Tensor, float]:
    """Minimise `objective` from `start` with at most `evaluations` calls (standard coefficients 1, 2, 0.5, 0.5);
    deterministic. Returns (best point, best value)."""
    n = start.numel()
    simplex = [start.clone()] + [start + step * torch.eye(n, dtype=start.dtype)[i] for i in range(n)]
    calls = [0]

    def f(p: torch.Tensor) -> float:
        calls[0] += 1
        if progress is not None:
            progress()
        return objective(p)
    values = [f(p) for p in simplex[:evaluations]]
    simplex = simplex[:len(values)]
    while calls[0] < evaluations and len(simplex) == n + 1:
        order = sorted(range(n + 1), key=lambda i: values[i])
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        centroid = torch.stack(simplex[:-1]).mean(dim=0)
        reflected = centroid + (centroid - simplex[-1])
        fr = f(reflected)
        if fr < values[0] and calls[0] < evaluations:
            expanded = centroid + 2 * (centroid - simplex[-1])
            fe = f(expanded)
            simplex[-1], values[-1] = (expanded, fe) if fe < fr else (reflected, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = reflected, fr
        elif calls[0] < evaluations:
            contracted = centroid + 0.5 * (simplex[-1] - centroid) if fr >= values[-1] else \
                centroid + 0.5 * (reflected - centroid)
            fc = f(contracted)
            if fc < min(fr, values[-1]):
                simplex[-1], values[-1] = contracted, fc
            else:  # shrink towards the best point
                for i in range(1, n + 1):
                    if calls[0] >= evaluations:
                        break
                    simplex[i] = simplex[0] + 0.5 * (simplex[i] - simplex[0])
                    values[i] = f(simplex[i])
    best = min(range(len(values)), key=lambda i: values[i])
    return simplex[best], values[best]


@dataclass(frozen=True)
class FitResult:
    solver: LearnedSolver
    train_rmse: float
    start_rmse: float  # coefficients fitted on the best starting schedule, before the time search
    start_schedule: str
    evaluations: int
    search_rmse: float  # after the time search, before the global refinement of the coefficients


def fit_solver(velocity: Velocity, data: FitData, nfe: int, evaluations: int,
               start_schedules: dict[str, torch.Tensor], progress: Progress = None,
               refine_iterations: int = 0) -> FitResult:
    """Coefficients by least squares and time steps by Nelder-Mead on the training data (LD3 + BNS, see module).

    start_schedules: named [nfe + 1] schedules from 1 to 0; the search starts on the one whose fitted solver has
    the lowest training error. `evaluations` counts coefficient fits (each nfe model calls per batch) in all;
    then `refine_iterations` Levenberg-Marquardt steps refine the coefficients for the final error (refine.py)."""
    from .refine import refine_coefficients  # refine imports this module

    if nfe < 1:
        raise ValueError(f"nfe: expected at least 1 model call, got {nfe}")
    cache: dict[tuple, float] = {}

    def objective(logits: torch.Tensor) -> float:
        key = tuple(round(v, 12) for v in logits.tolist())
        if key not in cache:
            full = torch.cat([torch.zeros(1, dtype=torch.float64), logits])
            cache[key] = data.rmse(fit_coefficients(velocity, sigmas_from_logits(full), data)[1])
        return cache[key]

    starts = {name: logits_from_sigmas(s.double().cpu())[1:] for name, s in start_schedules.items()}
    scored = []
    for name, logits in starts.items():
        scored.append((objective(logits), name))
        if progress is not None:
            progress()
    start_rmse, start_name = min(scored)
    best, best_rmse = starts[start_name], start_rmse
    remaining = evaluations - len(starts)
    if nfe > 1 and remaining > 0:
        best, best_rmse = nelder_mead(objective, starts[start_name], remaining, progress=progress)
    sigmas = sigmas_from_logits(torch.cat([torch.zeros(1, dtype=torch.float64), best]))
    solver, _ = fit_coefficients(velocity, sigmas, data)
    refined, train_rmse = refine_coefficients(velocity, solver, data, refine_iterations, progress)
    return FitResult(refined, train_rmse, start_rmse, start_name, len(cache), best_rmse)
