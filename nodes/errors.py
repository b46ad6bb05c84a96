"""Error messages that quote what a user typed.

ComfyUI logs a failing node's exception message. A message holding a character that cannot be encoded
(a lone surrogate such as "\\ud800", which the JSON API lets through) makes that logging raise inside
ComfyUI's prompt worker, and the worker thread dies: no prompt runs again until a restart. Every message
that quotes user input therefore quotes it with `quoted`, which is pure ASCII.
"""
from __future__ import annotations

import torch

from ..samplers.messages import quoted

__all__ = ["quoted", "NonFiniteLatentError", "check_finite_output"]


class NonFiniteLatentError(FloatingPointError):
    """A sampling step or guided prediction produced NaN or infinite values."""


def check_finite_output(out: torch.Tensor, node: str, sigma: float, step: int | None, what: str, advice: str) -> None:
    """Raise naming the node, step and sigma unless `out` is finite (one reduction)."""
    if not bool(torch.isfinite(out).all()):
        where = f"step {step} at sigma {sigma:.4g}" if step is not None else f"sigma {sigma:.4g}"
        raise NonFiniteLatentError(f"{node}: {where}: {what} contains NaN or infinite values; {advice}")
