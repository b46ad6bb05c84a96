"""Guidance weight schedules rising as noise falls (arXiv 2404.13040)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .common import SigmaLike
from .validation import check_choice, validate_sigma, validate_weight

SCHEDULE_SHAPES = ("constant", "linear", "cosine")


@dataclass(frozen=True)
class WeightSchedule:
    """Weight-schedule parameters (mean weight w and shape), checked when built."""
    w: float = 4.0
    shape: str = "linear"

    def __post_init__(self):
        validate_weight(self.w)
        check_choice("shape", self.shape, SCHEDULE_SHAPES)

    def weight_at(self, sigma: SigmaLike, w: float | None = None) -> float | Tensor:
        """Heuristic linear / cosine schedules with t/T -> sigma: linear w(sigma) = 1 + (w - 1) 2 (1 - sigma),
        cosine w(sigma) = 1 + (w - 1)(1 + cos(pi sigma)); constant is w. Guidance rises as noise falls (pure
        conditional at sigma = 1, 1 + 2(w - 1) at sigma = 0) and the mean over sigma in [0, 1] is w: the schedule
        scales the excess w - 1 over the conditional prediction. A normalised step position (1 - i / N) may be
        passed instead of sigma. `w` defaults to self.w."""
        w = self.w if w is None else w
        if self.shape == "constant":
            return torch.full_like(sigma, w) if isinstance(sigma, Tensor) else w
        if self.shape == "linear":
            factor = 2 * (1 - sigma)
        else:
            factor = 1 + (torch.cos(math.pi * sigma) if isinstance(sigma, Tensor) else math.cos(math.pi * sigma))
        return 1 + (w - 1) * factor


def scheduled_weight(w: float, sigma: SigmaLike,
                     shape: Literal["constant", "linear", "cosine"] = "linear") -> float | Tensor:
    """Increasing guidance schedule (arXiv 2404.13040), parameters and sigma checked: see WeightSchedule.weight_at."""
    law = WeightSchedule(w, shape)
    validate_sigma(sigma)
    return law.weight_at(sigma)
