"""Global refinement of a learned solver's coefficients for the final-state error, without model gradients
(pure torch).

BNS (arXiv 2403.01329) optimises every coefficient for the error at the end of the solve; the row-by-row fit in
fit.py only matches each step to the reference. Here the rows before the last are refined by Levenberg-Marquardt
on the final residual, with the last row re-solved by least squares at every point (variable projection), and the
Jacobian taken by forward finite differences: perturbing row i reruns only the steps after it (N - 1 - i model
calls per batch).
"""
from __future__ import annotations

from typing import Callable

import torch

from .fit import FitData, Progress, fit_row
from .reference import Velocity
from .solver import LearnedSolver

FD_STEP = 1e-4  # relative finite-difference step on a coefficient


class Rollout:
    """Runs rows 0..N-2 of a solver on every training batch and solves the last row; caches nothing between calls
    except what the caller hands back (the velocity columns of an unchanged prefix)."""

    def __init__(self, velocity: Velocity, sigmas: torch.Tensor, data: FitData):
        self.velocity, self.sigmas, self.data = velocity, sigmas, data
        self.targets = [r.final.flatten() for r in data.references]
        self.n = len(sigmas) - 1

    def columns(self, rows: list[torch.Tensor], prefix: list[list[torch.Tensor]] | None = None, start: int = 0
                ) -> list[list[torch.Tensor]]:
        """Per batch, the columns [x_0, u_0, ..., u_{N-1}]; columns up to u_start are taken from `prefix`."""
        out = []
        for k, x0 in enumerate(self.data.starts):
            cols = [c for c in prefix[k][:start + 1]] if prefix else [x0.double().flatten().cpu()]
            for i in range(len(cols) - 1, self.n):
                if i > 0:
                    state = torch.stack(cols, dim=1) @ rows[i - 1]
                    x = state.reshape(x0.shape).to(x0)
                else:
                    x = x0
                cols.append(self.velocity(x, float(self.sigmas[i])).double().flatten().cpu())
            out.append(cols)
        return out

    def residual(self, cols: list[list[torch.Tensor]], prior: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(final residual over every batch, flattened; the least-squares last row)."""
        design = [torch.stack(c, dim=1) for c in cols]
        last = fit_row(design, self.targets, prior)
        return torch.cat([d @ last - t for d, t in zip(design, self.targets)]), last


def unpack(theta: torch.Tensor, n: int) -> list[torch.Tensor]:
    """Flat parameters -> rows 0..n-2 (row i has i + 2 entries)."""
    rows, at = [], 0
    for i in range(n - 1):
        rows.append(theta[at:at + i + 2])
        at += i + 2
    return rows


def row_of(index: int) -> int:
    """Row that flat parameter `index` belongs to."""
    i, at = 0, 0
    while at + i + 2 <= index:
        at += i + 2
        i += 1
    return i


def refine_coefficients(velocity: Velocity, solver: LearnedSolver, data: FitData, iterations: int,
                        progress: Progress = None, tick: Callable[[], None] | None = None) -> tuple[LearnedSolver, float]:
    """Levenberg-Marquardt on rows 0..N-2 for the final RMSE (last row by least squares); never worse than the start.

    Returns (solver, training RMSE)."""
    n = solver.nfe
    rollout = Rollout(velocity, solver.sigmas, data)
    prior = solver.rows[-1]
    theta = torch.cat(list(solver.rows[:-1])) if n > 1 else torch.zeros(0, dtype=torch.float64)
    cols = rollout.columns(unpack(theta, n))
    r, last = rollout.residual(cols, prior)
    damping = 1e-3
    for _ in range(iterations if n > 1 else 0):
        jac = torch.empty(r.numel(), theta.numel(), dtype=torch.float64)
        for p in range(theta.numel()):
            step = FD_STEP * max(1.0, abs(float(theta[p])))
            moved = theta.clone()
            moved[p] += step
            jac[:, p] = (rollout.residual(rollout.columns(unpack(moved, n), cols, row_of(p) + 1), prior)[0] - r) / step
            if tick is not None:
                tick()
        gram, grad = jac.T @ jac, jac.T @ r
        for _attempt in range(4):
            lhs = gram + damping * torch.diag(gram.diagonal().clamp_min(1e-12))
            candidate = theta - torch.linalg.solve(lhs, grad)
            cand_cols = rollout.columns(unpack(candidate, n))
            cand_r, cand_last = rollout.residual(cand_cols, prior)
            if progress is not None:
                progress()
            if torch.isfinite(cand_r).all() and float(cand_r.pow(2).sum()) < float(r.pow(2).sum()):
                theta, cols, r, last, damping = candidate, cand_cols, cand_r, cand_last, damping / 3
                break
            damping *= 8
    rows = tuple(unpack(theta, n)) + (last,)
    rmse = float(r.pow(2).mean().sqrt())
    return LearnedSolver(solver.sigmas.clone(), tuple(row.clone() for row in rows)), rmse
