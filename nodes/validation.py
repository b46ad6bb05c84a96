"""Checks ComfyUI runs on /prompt, before anything executes: every RectiFlow node derives from RectiFlowNode.

ComfyUI's own min/max test lets NaN through (NaN < min is False), and ComfyUI 0.3.75 does not check V3 combo
values against their options. Once a node defines validate_inputs(**kwargs), ComfyUI leaves range checks to it,
so this one checks every number and combo it declares and names the input that is wrong.
"""
from __future__ import annotations

import math
from typing import Any

from comfy_api.latest import io

from .errors import quoted
from .prompt_links import LINK_PROBLEM


def number_problem(name: str, value: Any, options: dict, kind: str) -> str | None:
    integer = kind == "INT"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not float(value).is_integer()):
        return f"{name}: expected {'an integer' if integer else 'a number'}, got {quoted(value)}"
    if not math.isfinite(value):
        return f"{name}: expected a finite number, got {quoted(value)}"
    lo, hi = options.get("min", -math.inf), options.get("max", math.inf)
    if not lo <= value <= hi:
        return f"{name}: expected a value in [{lo}, {hi}], got {quoted(value)}"
    return None


def check_finite(**values: float) -> None:
    """Raise naming the first input that is not a finite number (for nodes called without /prompt validation)."""
    for name, value in values.items():
        problem = number_problem(name, value, {}, "FLOAT")
        if problem:
            raise ValueError(problem)


def combo_problem(name: str, value: Any, choices: list) -> str | None:
    if value in choices:
        return None
    shown = choices if len(choices) <= 20 else f"one of {len(choices)} options"
    return f"{name}: {quoted(value)} is not an option; expected {shown}"


def check_option(name: str, value: Any, choices) -> Any:
    """Raise combo_problem's message when `value` is not one of `choices` (for nodes called without /prompt
    validation); returns the value."""
    problem = combo_problem(name, value, list(choices))
    if problem:
        raise ValueError(problem)
    return value


WIDGET_KINDS = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")


def input_problem(name: str, value: Any, spec: tuple) -> str | None:
    """What is wrong with one input value. Validation sees a linked input as None; a socket input (MODEL,
    LATENT, ...) holding anything else was given a plain value in the prompt instead of a link."""
    kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
    if isinstance(value, dict) and isinstance(value.get(LINK_PROBLEM), str):
        return value[LINK_PROBLEM]                 # a link marked by prompt_links.mark_bad_links
    if value is None:
        return None
    if isinstance(kind, list) or kind == "COMBO":
        return combo_problem(name, value, kind if isinstance(kind, list) else list(options.get("options", [])))
    if kind in ("INT", "FLOAT"):
        return number_problem(name, value, options, kind)
    if isinstance(kind, str) and kind not in WIDGET_KINDS:
        return f"{name}: expected a link from a {kind} output, got the plain value {quoted(value)}"
    return None


class RectiFlowNode(io.ComfyNode):
    """io.ComfyNode whose widget values are checked when a prompt is queued."""

    @classmethod
    def node_name(cls) -> str:
        """The name users see on the node, for error messages raised while a run uses its output."""
        return cls.define_schema().display_name

    @classmethod
    def validate_inputs(cls, **inputs) -> bool | str:
        specs = {name: spec for section in cls.INPUT_TYPES().values() if isinstance(section, dict)
                 for name, spec in section.items()}
        problems = [p for name, value in inputs.items() if name in specs
                    for p in [input_problem(name, value, specs[name])] if p]
        return True if not problems else "; ".join(problems)
