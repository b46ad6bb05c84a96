"""Where a guided model call sits in its sampling run, and the per-run memory of a law.

The step is the sigma's position in `transformer_options["sample_sigmas"]`, never a call count (docs/design.md).
Per-run state (SMC memory, APG momentum, RCFG negative) is created in a guider's `outer_sample` or, for MODEL
patches, in an OUTER_SAMPLE wrapper.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import torch
from torch import Tensor

RUNS_KEY = "rectiflow_guidance_runs"      # transformer_options entry: {patch uid: RunState} of the current run
PROBE_KEY = "rectiflow_guidance_probe"    # transformer_options entry: the Guidance Inspector's recorder


class StepPosition(NamedTuple):
    step: int                  # index of the schedule step whose interval holds sigma
    step_sigma: float          # that step's schedule sigma (the key of stepwise state)
    next_sigma: float | None   # the schedule sigma the step goes to (None when unknown)


def schedule_position(sigma: float, sample_sigmas: Tensor | None) -> StepPosition | None:
    """The step of `sigma` in a monotone schedule (a step owns [its sigma, next sigma)); None without a
    multi-step schedule (a one-interval schedule, e.g. adaptive solvers, has no step structure)."""
    if sample_sigmas is None or sample_sigmas.numel() < 3:
        return None
    sigmas = sample_sigmas.detach().float().cpu().tolist()
    tol = 1e-6 * max(1.0, abs(sigma))
    starts = sigmas[:-1]
    if sigmas[0] >= sigmas[-1]:
        passed = sum(1 for s in starts if s >= sigma - tol)
    else:
        passed = sum(1 for s in starts if s <= sigma + tol)
    step = max(passed - 1, 0)
    return StepPosition(step, starts[step], sigmas[step + 1])


class SigmaSteps:
    """Step positions from the run's schedule, or, without one, from the order in which sigmas are first seen."""

    def __init__(self):
        self.seen: list[float] = []

    def position(self, sigma: float, sample_sigmas: Tensor | None) -> StepPosition:
        found = schedule_position(sigma, sample_sigmas)
        if found is not None:
            return found
        if sigma not in self.seen:
            self.seen.append(sigma)
        return StepPosition(self.seen.index(sigma), sigma, None)


class StatefulLaw(Protocol):
    def initial_state(self) -> Any: ...


class RunState:
    """One sampling run's memory of one law: the law's state and, without a schedule, the sigmas seen."""

    def __init__(self, law: StatefulLaw):
        self.law = law
        self.restart()

    def restart(self) -> None:
        self.state = self.law.initial_state()
        self.positions = SigmaSteps()
        self.last_step = -1

    def locate(self, sigma: float, sample_sigmas: Tensor | None) -> StepPosition:
        position = self.positions.position(sigma, sample_sigmas)
        if position.step < self.last_step:      # steps only go forward within a run: a new run reuses us
            self.restart()
            position = self.positions.position(sigma, sample_sigmas)
        self.last_step = position.step
        return position


@dataclass(frozen=True)
class GuidanceStep:
    x: Tensor          # float32 [B, ...]
    sigma: Tensor      # float32 [B]
    position: StepPosition

    @property
    def sigma_view(self) -> Tensor:
        """sigma shaped [B, 1, ...] against x."""
        return self.sigma.view(-1, *([1] * (self.x.ndim - 1)))


def guidance_step(x: Tensor, sigma: Tensor, model_options: dict, run: RunState) -> GuidanceStep:
    sigma = torch.as_tensor(sigma).reshape(-1).float().to(x.device)
    if sigma.numel() == 1:
        sigma = sigma.expand(x.shape[0])
    sample_sigmas = model_options.get("transformer_options", {}).get("sample_sigmas")
    return GuidanceStep(x.float(), sigma, run.locate(float(sigma[0]), sample_sigmas))
