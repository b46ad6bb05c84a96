"""Non-stationary linear multistep solvers with learned coefficients and time steps (pure torch).

Bespoke Non-Stationary solvers (BNS, Shaul et al., arXiv 2403.01329, eq. 9): with the model's velocities
u_j = v(x_j, t_j) at the solver's own states, step i is

    x_{i+1} = a_i x_0 + sum_{j <= i} b_ij u_j,        t_0 = 1 > t_1 > ... > t_N = 0,

so an N-step solver costs N model calls (none at t_N = 0). Euler and Adams-Bashforth 2 are special cases (their
coefficients below are where a fit starts). Row i holds (a_i, b_i0, ..., b_ii).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..messages import quoted
from ..solvers import compute_dtype, flow_velocity

Velocity = Callable[[torch.Tensor, float], torch.Tensor]  # (x, sigma) -> v


class LearnedSigmasError(ValueError):
    """A learned solver was handed another schedule than the one it was fitted on."""


@dataclass(frozen=True)
class LearnedSolver:
    """Sigmas [N + 1] from 1 to 0 (float64) and coefficient rows: rows[i] = [a_i, b_i0, ..., b_ii] (float64)."""
    sigmas: torch.Tensor
    rows: tuple[torch.Tensor, ...]

    @property
    def nfe(self) -> int:
        return len(self.rows)

    def step(self, i: int, x0: torch.Tensor, velocities: list[torch.Tensor]) -> torch.Tensor:
        """x_{i+1} = a_i x_0 + sum_j b_ij u_j."""
        row = self.rows[i].tolist()
        out = row[0] * x0
        for coefficient, u in zip(row[1:], velocities):
            out = out + coefficient * u
        return out

    def run(self, velocity: Velocity, x0: torch.Tensor) -> torch.Tensor:
        """The final state x_N from x_0 at sigma 1 (N velocity evaluations)."""
        velocities: list[torch.Tensor] = []
        x = x0
        for i in range(self.nfe):
            velocities.append(velocity(x, float(self.sigmas[i])))
            x = self.step(i, x0, velocities)
        return x


def euler_rows(sigmas: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Flow Euler in BNS form: x_{i+1} = x_0 + sum_{j <= i} (t_{j+1} - t_j) u_j."""
    h = (sigmas[1:] - sigmas[:-1]).double()
    return tuple(torch.cat([torch.ones(1, dtype=torch.float64), h[:i + 1]]) for i in range(len(h)))


def ab2_rows(sigmas: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Variable-step Adams-Bashforth 2 (Euler first step) in BNS form: each step adds
    h_i ((1 + r/2) u_i - r/2 u_{i-1}) with r = h_i / h_{i-1}."""
    h = (sigmas[1:] - sigmas[:-1]).double().tolist()
    increments = [[h[0]]]
    for i in range(1, len(h)):
        r = h[i] / h[i - 1]
        increments.append([0.0] * (i - 1) + [-h[i] * r / 2, h[i] * (1 + r / 2)])
    rows, total = [], torch.zeros(0, dtype=torch.float64)
    for inc in increments:
        total = torch.cat([total, torch.zeros(1, dtype=torch.float64)]) + torch.tensor(inc, dtype=torch.float64)
        rows.append(torch.cat([torch.ones(1, dtype=torch.float64), total]))
    return tuple(rows)


def check_learned_sigmas(sigmas: torch.Tensor, solver: LearnedSolver, input_name: str = "sigmas") -> None:
    """Raise, naming the input, unless `sigmas` are the solver's own (same length, equal within 1e-5)."""
    given = sigmas.detach().double().cpu().flatten()
    if given.numel() >= 2 and bool(given[-1] > given[0]):
        raise LearnedSigmasError(
            f"{input_name}: increasing sigmas (inversion) are not supported by a learned solver; it only "
            "generates (sigma 1 -> 0). Use a RectiFlow Sampler Select solver to invert")
    own = solver.sigmas.double().cpu()
    if given.shape != own.shape or not torch.allclose(given, own, rtol=0.0, atol=1e-5):
        shown = quoted([round(v, 4) for v in given.tolist()[:12]])
        raise LearnedSigmasError(
            f"{input_name}: a learned solver runs only on the sigmas it was fitted on (the SIGMAS output of the same "
            f"RectiFlow Learn Solver node, {own.numel()} values from 1 to 0); got {shown}")


@torch.no_grad()
def sample_learned(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None, callback=None,
                   disable=None, learned: LearnedSolver | None = None) -> torch.Tensor:
    """k-diffusion sampler signature: run the `learned` solver (BNS form, arXiv 2403.01329) on its own sigmas."""
    if learned is None:
        raise ValueError("learned: a learned sampler needs the fitted solver (use RectiFlow Learn Solver)")
    solver = learned
    check_learned_sigmas(sigmas, solver)
    extra_args = {} if extra_args is None else extra_args
    dtype = x.dtype
    x0 = x.to(compute_dtype(x))
    state, velocities = x0, []
    for i in range(solver.nfe):
        sigma = solver.sigmas[i].to(device=x0.device, dtype=x0.dtype)
        v, denoised = flow_velocity(model, state, sigma, extra_args)
        velocities.append(v)
        state = solver.step(i, x0, velocities)
        if callback is not None:
            callback({"x": state, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
    return state.to(dtype)
