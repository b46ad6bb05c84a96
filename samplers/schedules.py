"""Sigma schedules (ComfyUI SIGMAS: a plain 1-D float tensor) and their validation."""
from __future__ import annotations

import torch


class ScheduleError(ValueError):
    """A SIGMAS tensor that no solver can integrate."""


def validate_sigmas(sigmas: torch.Tensor, name: str = "sigmas") -> torch.Tensor:
    """Return `sigmas` as float (32 or 64) 1-D if it is finite, within [0, 1], of length >= 2 and strictly monotonic."""
    if not isinstance(sigmas, torch.Tensor):
        raise ScheduleError(f"{name}: expected a 1-D tensor of sigmas, got {type(sigmas).__name__}")
    if sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ScheduleError(f"{name}: expected a 1-D schedule with at least 2 sigmas, got shape {tuple(sigmas.shape)}")
    s = sigmas if sigmas.dtype == torch.float64 else sigmas.float()
    if not torch.isfinite(s).all():
        raise ScheduleError(f"{name}: contains NaN or infinite values: {s.tolist()}")
    if s.min() < 0 or s.max() > 1:
        raise ScheduleError(f"{name}: flow sigmas must lie in [0, 1], got range [{s.min():.4g}, {s.max():.4g}]")
    d = s[1:] - s[:-1]
    if not ((d < 0).all() or (d > 0).all()):
        raise ScheduleError(f"{name}: must be strictly decreasing (generation) or strictly increasing "
                            f"(inversion), got {[round(v, 4) for v in s.tolist()]}")
    return s
