"""Parameter checks of the guidance laws: a ValueError naming the parameter and the expected range.

Laws run these once, when they are built (their dataclass `__post_init__`) or in the validating function
forms; the per-call cores (law methods) never re-check, so no model call pays for validation.
"""
from __future__ import annotations

import math
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from ..messages import quoted
from .common import SigmaLike


def _interval(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def check_real(name: str, value: Any, lo: float = -math.inf, hi: float = math.inf, *,
               lo_open: bool = False, hi_open: bool = False, allow_inf: bool = False) -> float:
    """`value` as float if it is a real number in the interval, else ValueError naming `name`."""
    lo_open = lo_open or lo == -math.inf
    hi_open = hi_open or (hi == math.inf and not allow_inf)
    expected = _interval(lo, hi, lo_open, hi_open)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number in {expected}, got {quoted(value)}")
    v = float(value)
    ok = not math.isnan(v) and (allow_inf or math.isfinite(v))
    ok = ok and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        raise ValueError(f"{name} must be {'a' if allow_inf else 'a finite'} number in {expected}, got {quoted(value)}")
    return v


def check_int(name: str, value: Any, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {quoted(value)}")
    return value


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {quoted(value)}")
    return value


def validate_weight(w: float | Tensor, name: str = "w") -> None:
    """A guidance weight: finite and >= 0 (0 is unconditional, 1 conditional); float or per-sample tensor."""
    if isinstance(w, Tensor):
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
            raise ValueError(f"{name} must be finite and in [0, inf), got {w.tolist()}")
        return
    check_real(name, w, 0.0)


def validate_sigma(sigma: SigmaLike, name: str = "sigma") -> None:
    """A flow sigma (float or tensor) in [0, 1]."""
    if isinstance(sigma, Tensor):
        if sigma.numel() == 0 or not bool(torch.isfinite(sigma).all()) or bool(((sigma < 0) | (sigma > 1)).any()):
            raise ValueError(f"{name} must lie in [0, 1], got {sigma.tolist()}")
        return
    check_real(name, sigma, 0.0, 1.0)


def validate_step(step: int) -> None:
    check_int("step", step)


def scalar_sigma(sigma: SigmaLike, name: str) -> float:
    """One sigma for the whole batch, as a float in [0, 1]."""
    if isinstance(sigma, Tensor):
        if sigma.numel() == 0 or not bool((sigma == sigma.reshape(-1)[0]).all()):
            raise ValueError(f"{name} must be one value for the whole batch, got {sigma.tolist()}")
        sigma = float(sigma.reshape(-1)[0])
    check_real(name, sigma, 0.0, 1.0)
    return float(sigma)


def check_pair(a_value: Tensor, b_value: Tensor, a: str = "v_cond", b: str = "v_uncond") -> None:
    """Two tensors shaped alike [B, ...]."""
    for name, t in ((a, a_value), (b, b_value)):
        if not isinstance(t, Tensor) or t.ndim < 1:
            raise ValueError(f"{name} must be a tensor shaped [B, ...], got {type(t).__name__}")
    if a_value.shape != b_value.shape:
        raise ValueError(f"{a} and {b} must have the same shape, got {tuple(a_value.shape)} and "
                         f"{tuple(b_value.shape)}")
