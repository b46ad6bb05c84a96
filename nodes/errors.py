"""Error messages that quote what a user typed.

ComfyUI logs a failing node's exception message. A message holding a character that cannot be encoded
(a lone surrogate such as "\\ud800", which the JSON API lets through) makes that logging raise inside
ComfyUI's prompt worker, and the worker thread dies: no prompt runs again until a restart. Every message
that quotes user input therefore quotes it with `quoted`, which is pure ASCII.
"""
from __future__ import annotations

from ..samplers.messages import quoted

__all__ = ["quoted"]
