"""Error messages that quote what a user typed.

ComfyUI logs a failing node's exception message. A message holding a character that cannot be encoded
(a lone surrogate such as "\\ud800", which the JSON API lets through) makes that logging raise inside
ComfyUI's prompt worker, and the worker thread dies: no prompt runs again until a restart. Every message
that quotes user input therefore quotes it with `quoted`, which is pure ASCII.
"""
from __future__ import annotations

import math

from ..samplers.messages import quoted

__all__ = ["quoted", "check_finite"]


def check_finite(**values: float) -> None:
    """Raise naming the first input whose value is NaN or infinite (the JSON API lets them through)."""
    for name, value in values.items():
        if not math.isfinite(value):
            raise ValueError(f"{name}: expected a finite number, got {quoted(value)}")
