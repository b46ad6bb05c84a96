"""Fine reference trajectories for fitting learned solvers: classical RK4 on a fine grid, read back at any sigma by
cubic Hermite interpolation of the recorded states and velocities (pure torch).

RK4's last stage at sigma = 0 uses the exact velocity v(x, 0) = -x (docs/design.md, section 1), so the solve keeps
fourth order all the way to the data and its interpolant is fourth order too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..schedules import validate_sigmas
from ..solvers import flow_velocity

Velocity = Callable[[torch.Tensor, float], torch.Tensor]
Progress = Callable[[], None] | None


def model_velocity(model, extra_args: dict | None = None) -> Velocity:
    """(x, sigma) -> v from a ComfyUI denoiser `model(x, sigma * s_in, **extra_args) -> x0_hat`; at sigma = 0 the
    exact v = -x without a model call."""
    extra_args = {} if extra_args is None else extra_args

    def velocity(x: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma == 0.0:
            return -x
        return flow_velocity(model, x, torch.tensor(sigma, dtype=x.dtype, device=x.device), extra_args)[0]
    return velocity


@dataclass(frozen=True)
class Reference:
    """One batch's fine solve: grid [M + 1] decreasing from 1 to 0, states and velocities [M + 1, B, ...] (cpu)."""
    sigmas: torch.Tensor
    states: torch.Tensor
    velocities: torch.Tensor

    @property
    def final(self) -> torch.Tensor:
        return self.states[-1]

    def at(self, sigma: float) -> torch.Tensor:
        """The state at `sigma` by cubic Hermite interpolation between the two grid points around it."""
        grid = self.sigmas
        k = int(torch.searchsorted(-grid, torch.tensor(-sigma, dtype=grid.dtype), right=True)) - 1
        k = min(max(k, 0), len(grid) - 2)
        s0, s1 = float(grid[k]), float(grid[k + 1])
        h = s1 - s0
        r = (sigma - s0) / h
        h00, h10 = 2 * r ** 3 - 3 * r ** 2 + 1, r ** 3 - 2 * r ** 2 + r
        h01, h11 = -2 * r ** 3 + 3 * r ** 2, r ** 3 - r ** 2
        return (h00 * self.states[k] + h10 * h * self.velocities[k] + h01 * self.states[k + 1]
                + h11 * h * self.velocities[k + 1])


@torch.no_grad()
def rk4_reference(velocity: Velocity, x0: torch.Tensor, grid: torch.Tensor, progress: Progress = None) -> Reference:
    """Classical RK4 on `grid` (1 -> 0) from x0, recording x and v at every grid sigma (4 model calls per step,
    3 on the step into sigma 0)."""
    grid = validate_sigmas(grid, "reference grid").double().cpu()
    if float(grid[0]) != 1.0 or float(grid[-1]) != 0.0:
        raise ValueError(f"reference grid: expected sigmas from 1 to 0, got {float(grid[0]):.4g} -> {float(grid[-1]):.4g}")
    x = x0
    states, velocities = [x.double().cpu()], []
    k1 = velocity(x, 1.0)
    for i in range(len(grid) - 1):
        s, t = float(grid[i]), float(grid[i + 1])
        h = t - s
        k2 = velocity(x + 0.5 * h * k1, s + 0.5 * h)
        k3 = velocity(x + 0.5 * h * k2, s + 0.5 * h)
        k4 = velocity(x + h * k3, t)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        velocities.append(k1.double().cpu())
        k1 = velocity(x, t)
        states.append(x.double().cpu())
        if progress is not None:
            progress()
    velocities.append(k1.double().cpu())
    return Reference(grid, torch.stack(states), torch.stack(velocities))
