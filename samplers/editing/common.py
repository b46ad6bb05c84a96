"""Types and checks the editing operators share."""
from __future__ import annotations

from typing import Callable

import torch

from ..schedules import validate_sigmas

Velocity = Callable[[torch.Tensor, float], torch.Tensor]   # (x, sigma) -> dx/dsigma, sigma a Python float
Callback = Callable[[int, torch.Tensor, torch.Tensor, float], None] | None   # (step, x, x0 estimate, sigma)


def decreasing_sigmas(sigmas: torch.Tensor, name: str = "sigmas") -> list[float]:
    """A generation schedule as floats: strictly decreasing, in [0, 1], zero at most as its last value."""
    values = [float(s) for s in validate_sigmas(sigmas, name)]
    if values[-1] > values[0]:
        raise ValueError(f"{name}: an edit runs from noise to the image; expected decreasing sigmas (not flipped)")
    return values


def report(callback: Callback, i: int, x: torch.Tensor, denoised: torch.Tensor, sigma: float) -> None:
    if callback is not None:
        callback(i, x, denoised, sigma)


def compute(x: torch.Tensor) -> torch.Tensor:
    """x in the compute dtype: float32 at least (float64 stays float64)."""
    return x.to(torch.float64 if x.dtype == torch.float64 else torch.float32)
