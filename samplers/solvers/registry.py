"""SOLVERS: every flow solver by name, with its cost and order, for the node's select combo and the benchmarks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .adaptive import sample_flow_adaptive
from .fireflow import sample_fireflow
from .multistep import sample_flow_ab2, sample_flow_ab3, sample_flow_pc
from .one_step import sample_flow_euler, sample_flow_heun, sample_flow_rk3, sample_flow_rk4, sample_rf_solver
from .sde import sample_flow_sde


@dataclass(frozen=True)
class SolverInfo:
    """A solver for a node's select combo: its function, cost, order of accuracy and a one-line description."""
    function: Callable[..., torch.Tensor]
    nfe_per_step: int | None  # None: adaptive
    order: int
    description: str
    nfe_extra: int = 0  # model calls on top of nfe_per_step * steps


SOLVERS: dict[str, SolverInfo] = {
    "euler": SolverInfo(sample_flow_euler, 1, 1, "Flow Euler, first order, 1 call per step."),
    "heun": SolverInfo(sample_flow_heun, 2, 2, "Heun RK2, 2 calls per step (1 on the step into sigma 0)."),
    "rf_solver": SolverInfo(sample_rf_solver, 2, 2, "RF-Solver second-order Taylor (= midpoint), 2 calls per step."),
    "fireflow": SolverInfo(sample_fireflow, 1, 2, "FireFlow midpoint reusing the last velocity, 1 call per step + 1.",
                           nfe_extra=1),
    "rk3": SolverInfo(sample_flow_rk3, 3, 3, "Kutta RK3, 3 calls per step (2 into sigma 0)."),
    "rk4": SolverInfo(sample_flow_rk4, 4, 4, "Classical RK4, 4 calls per step (3 into sigma 0)."),
    "ab2": SolverInfo(sample_flow_ab2, 1, 2, "Adams-Bashforth 2 (flow DPM-Solver++ 2M), 1 call per step."),
    "ab3": SolverInfo(sample_flow_ab3, 1, 3, "Adams-Bashforth 3 (flow DPM-Solver++ 3M), 1 call per step + 1 "
                                             "(a Heun first step keeps third order).", nfe_extra=1),
    "pc": SolverInfo(sample_flow_pc, 1, 3, "UniPC-style AB2 predictor + AM3 corrector, 1 call per step."),
    "adaptive": SolverInfo(sample_flow_adaptive, None, 3, "Adaptive Bogacki-Shampine 3(2), rtol/atol step control."),
    "sde": SolverInfo(sample_flow_sde, 1, 1, "Stochastic flow sampler (noise_scale 0 = Euler), generation only."),
}
