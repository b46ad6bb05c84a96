"""The editing benchmark's registry: one EditOperator per method, swept over its main knob (bench/editing.py).

An operator is `edit(v_src, v_tar, x_src, sigmas, noise, knob) -> edited latent`, with
- v_src, v_tar: velocity callables (x, sigma float) -> dx/dsigma (ComfyUI's CONST convention, sigma 1 = noise),
  v(x, 0) = -x without a model call (docs/design.md),
- x_src: the source images [B, 1, 16, 16], sigmas: a decreasing schedule 1 -> 0 with the bench's steps (or `knob`
  steps when the knob is named "steps"), noise: one standard normal draw like x_src (seeded), knob: one value.
`calls(steps, knob)` is the number of guided velocity evaluations per edit (the bench counts them and checks it).
Adding an operator takes one entry: e.g.
    EditOperator("UniEdit", lambda v_src, v_tar, x, sigmas, noise, alpha: uni_edit(v_src, v_tar, x, sigmas, alpha),
                 "alpha", (0.2, 0.4, 0.6), lambda steps, alpha: 2 * steps - 1)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from rectiflow.samplers.editing import dnaedit, flow_edit, flow_opt, flowchef, rf_inversion, solver_edit, uniedit
from rectiflow.samplers.editing.uniedit import uniedit_steps
from rectiflow.samplers.solvers.one_step import rf_solver_step

Velocity = Callable[[torch.Tensor, float], torch.Tensor]
EditFn = Callable[[Velocity, Velocity, torch.Tensor, torch.Tensor, torch.Tensor, float], torch.Tensor]
FLOWEDIT_SEED = 1234   # FlowEdit's per-step noise draws (its own generator, as the node's seed input)


@dataclass(frozen=True)
class EditOperator:
    name: str
    edit: EditFn
    knob: str
    values: tuple
    calls: Callable[[int, float], int]   # (schedule steps, knob) -> model calls per edit
    baseline: bool = False               # drawn dashed; the goal compares operators with the Euler baseline


def seeded_draws(like: torch.Tensor, seed: int = FLOWEDIT_SEED) -> Callable[[], torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return lambda: torch.randn(like.shape, generator=generator).to(like)


def flowedit(v_src, v_tar, x_src, sigmas, noise, n_max) -> torch.Tensor:
    """FlowEdit (arXiv 2412.08629), n_avg 1, n_min 0, over the last n_max steps."""
    return flow_edit(v_src, v_tar, x_src, sigmas, seeded_draws(x_src), int(n_max))


def rf_inversion_stop(eta: float = 0.9, gamma: float = 0.5) -> EditFn:
    """RF-Inversion (arXiv 2410.10792) with the official gains (gamma 0.5, eta 0.9), the reverse controller on for
    steps 0 .. stop_step - 1 (official: 7 of 28; later: closer to the source, weaker edit)."""
    def edit(v_src, v_tar, x_src, sigmas, noise, stop_step) -> torch.Tensor:
        return rf_inversion(v_src, v_tar, x_src, noise, sigmas, gamma, eta, 0, int(stop_step))
    return edit


def euler_invert_regenerate(v_src, v_tar, x_src, sigmas, noise, steps) -> torch.Tensor:
    """Plain Euler inversion with v_src, then Euler sampling with v_tar (RF-Inversion at gamma = eta = 0)."""
    return rf_inversion(v_src, v_tar, x_src, noise, sigmas, 0.0, 0.0, 0, 0)


def rf_solver_path(velocity: Velocity, x: torch.Tensor, sigmas: list[float]) -> torch.Tensor:
    """RF-Solver's second-order steps (arXiv 2411.04746) along `sigmas` (either direction)."""
    def pair(y, s):
        return velocity(y, float(s)), None
    for sigma, sigma_next in zip(sigmas, sigmas[1:]):
        x = rf_solver_step(pair, x, sigma, sigma_next, velocity(x, sigma))
    return x


def rf_solver_invert_regenerate(v_src, v_tar, x_src, sigmas, noise, steps) -> torch.Tensor:
    """RF-Solver inversion with v_src, then RF-Solver sampling with v_tar (arXiv 2411.04746, no feature sharing)."""
    values = [float(s) for s in sigmas]
    return rf_solver_path(v_tar, rf_solver_path(v_src, x_src.float(), values[::-1]), values)


def uniedit_alpha(v_src, v_tar, x_src, sigmas, noise, alpha) -> torch.Tensor:
    """UniEdit-Flow (arXiv 2504.13109) at the official omega 5, signed velocity mask, over floor(alpha T) steps."""
    return uniedit(v_src, v_tar, x_src, sigmas, omega=5.0, alpha=float(alpha))


def dnaedit_start(v_src, v_tar, x_src, sigmas, noise, start) -> torch.Tensor:
    """DNAEdit (arXiv 2506.01430) at the official mvg 0.8, from schedule step `start` (official SD3: 13 of 40)."""
    return dnaedit(v_src, v_tar, x_src, sigmas, noise, start=int(start), mvg=0.8)


FLOWOPT_FRACTION = 0.8   # official SD3: n_max 12 of 15 steps


def flowopt_iterations(v_src, v_tar, x_src, sigmas, noise, iterations) -> torch.Tensor:
    """FlowOpt (arXiv 2510.22010) at the official SD3 eta 0.01 over the last 80% of the steps."""
    return flow_opt(v_src, v_tar, x_src, sigmas, flowopt_window(len(sigmas) - 1), int(iterations), 0.01)


def flowopt_window(steps: int) -> int:
    return max(1, round(FLOWOPT_FRACTION * steps))


def ink_neighbourhood(x_src: torch.Tensor, ink: float = -0.8, radius: int = 2) -> torch.Tensor:
    """1 within `radius` pixels of the source's ink (free to change), 0 on the far background (kept)."""
    inked = (x_src > ink).to(x_src.dtype)
    return torch.nn.functional.max_pool2d(inked, 2 * radius + 1, stride=1, padding=radius)


def flowchef_step(v_src, v_tar, x_src, sigmas, noise, step_size) -> torch.Tensor:
    """FlowChef (arXiv 2412.00100) inpainting: the far background is the measurement to keep, the ink's
    neighbourhood is regenerated under the target label, steered with `step_size`."""
    return flowchef(v_src, v_tar, x_src, sigmas, noise, task="inpaint", mask=ink_neighbourhood(x_src),
                    step_size=float(step_size))


def solver_edit_with(solver: str) -> EditFn:
    """RF-Solver-Edit / FireFlow editing (arXiv 2411.04746, 2412.07517) without feature sharing (digits has no
    attention), knob: steps."""
    def edit(v_src, v_tar, x_src, sigmas, noise, steps) -> torch.Tensor:
        return solver_edit(v_src, v_tar, x_src, sigmas, solver=solver)
    return edit


OPERATORS: list[EditOperator] = [
    EditOperator("FlowEdit", flowedit, "n_max", (8, 12, 16), lambda steps, n_max: 2 * int(n_max)),
    EditOperator("RF-Inversion", rf_inversion_stop(), "stop_step", (5, 8, 11), lambda steps, _: 2 * steps - 1),
    EditOperator("UniEdit-Flow", uniedit_alpha, "alpha", (0.3, 0.45, 0.6),
                 lambda steps, alpha: 3 * uniedit_steps(float(alpha), steps)),
    EditOperator("DNAEdit", dnaedit_start, "start", (4, 8, 12), lambda steps, start: 2 * (steps - int(start))),
    EditOperator("FlowOpt", flowopt_iterations, "iterations", (0, 4),
                 lambda steps, iterations: flowopt_window(steps) * (int(iterations) + 2)),
    EditOperator("FlowChef", flowchef_step, "step_size", (0.02, 0.08, 0.3), lambda steps, _: steps),
    EditOperator("FireFlow edit", solver_edit_with("fireflow"), "steps", (5, 10), lambda steps, _: 2 * steps + 1),
    EditOperator("Euler invert-regenerate", euler_invert_regenerate, "steps", (2, 5, 10, 20),
                 lambda steps, _: 2 * steps - 1, baseline=True),
    EditOperator("RF-Solver invert-regenerate", rf_solver_invert_regenerate, "steps", (3, 5, 10),
                 lambda steps, _: 4 * steps - 1, baseline=True),
]
