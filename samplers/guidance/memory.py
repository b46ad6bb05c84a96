"""Step memory of the stateful laws (SMC-CFG memory, APG momentum, StreamDiffusion RCFG negative).

A law takes an explicit state and returns the next one; a state belongs to one sampling run (start every run
from a fresh one). Steps are recognised by a change of the step key (the sigma, or `step_sigma` where offered):
  * every call with the same key computes from the memory committed before that key was first seen, so
    repeated calls within a step (high-order solvers, correctors) are deterministic and independent of their
    order;
  * the value a step leaves behind is the one of its latest call; it is committed when a call with a different
    key arrives.
Solvers that evaluate at intermediate sigmas (midpoint methods) should key by the step's schedule sigma
(sample_sigmas[step]); otherwise every intermediate sigma counts as a step.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any


@dataclass(frozen=True)
class StepMemory:
    """Memory of a stepwise law for one run: `committed` from the last completed step, `latest` from the
    latest call of the step in progress, `step_key` the sigma identifying that step (see module docstring)."""
    committed: Any = None
    latest: Any = None
    step_key: float | None = None

    def enter(self, key: float) -> StepMemory:
        """The memory as seen by a call with step key `key` (commits `latest` when the key changed)."""
        if self.step_key is not None and key == self.step_key:
            return self
        committed = self.latest if self.latest is not None else self.committed
        return replace(self, committed=committed, latest=None, step_key=key)

    def record(self, value: Any) -> StepMemory:
        return replace(self, latest=value)


@dataclass(frozen=True)
class SMCState(StepMemory):
    """SMC-CFG memory: `committed` is an SMCMemory (controlled error e' and sign(s) of the last step)."""


@dataclass(frozen=True)
class APGState(StepMemory):
    """APG memory: `committed` is the momentum running average of x0_c - x0_u."""


@dataclass(frozen=True)
class RCFGState(StepMemory):
    """StreamDiffusion RCFG memory: `committed` is the stored negative x0."""


@dataclass(frozen=True)
class GuidanceState:
    """Every stateful law's memory for one sampling run; create a fresh one per run."""
    smc: SMCState = field(default_factory=SMCState)
    apg: APGState = field(default_factory=APGState)
    rcfg: RCFGState = field(default_factory=RCFGState)
