"""The digits quickstart made tiny for batch tests and benchmarks: one 16x16 digit, 2 Euler steps, no upscale."""
from __future__ import annotations

import json
from pathlib import Path

from .comfy_host import REPO

SEED_NODE = "5"          # RandomNoise, input noise_seed


def tiny_digits_workflow(steps: int = 2) -> dict:
    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    widgets = {node["type"]: node["widgets_values"] for node in workflow["nodes"]}
    widgets["RectiFlowDigitsEmptyLatent"][0] = 1
    widgets["BasicScheduler"][1] = steps
    widgets["RectiFlowDigitsLatentToImage"][:2] = [1, 1]
    return workflow


def write_tiny_digits_workflow(folder: Path, steps: int = 2) -> Path:
    path = folder / "tiny_digits.json"
    path.write_text(json.dumps(tiny_digits_workflow(steps)))
    return path
