"""Quoting user input in error messages (pure Python; shared by samplers/ and nodes/)."""
from __future__ import annotations

from typing import Any

MAX_QUOTED = 80


def quoted(value: Any) -> str:
    """An ASCII-only, length-bounded repr of `value`, safe for any logger (no lone surrogates, no megabyte lines)."""
    text = ascii(value)
    if len(text) <= MAX_QUOTED:
        return text
    return text[: MAX_QUOTED - 5] + ("...'" if isinstance(value, str) else "...")
