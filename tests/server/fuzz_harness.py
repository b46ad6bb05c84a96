"""Build a runnable API prompt around any node from /object_info alone, and the fixed mutations the fuzzer applies.

Every socket input is fed by a small provider graph on the digits model; output 0 of the node under test goes to
ComfyUI's PreviewAny, so ComfyUI validates and executes the node."""
from __future__ import annotations

import math
from typing import Any

# socket type -> (provider node, widget overrides); the providers' own sockets are filled the same way
PROVIDERS: dict[str, tuple[str, dict]] = {
    "MODEL": ("RectiFlowDigitsModelLoader", {}),
    "CONDITIONING": ("RectiFlowDigitsLabel", {"labels": "3 8"}),
    "LATENT": ("RectiFlowDigitsEmptyLatent", {"batch_size": 2}),
    "NOISE": ("RandomNoise", {"noise_seed": 0}),
    "SAMPLER": ("RectiFlowSamplerEuler", {}),
    "SIGMAS": ("BasicScheduler", {"scheduler": "simple", "steps": 4, "denoise": 1.0}),
    "GUIDER": ("CFGGuider", {"cfg": 2.0}),
    "IMAGE": ("RectiFlowDigitsLatentToImage", {}),
    "MASK": ("SolidMask", {"value": 1.0, "width": 16, "height": 16}),
    "RECTIFLOW_TRAJECTORY": ("RectiFlowReferenceTrajectory", {"fine_steps": 8}),
}
# kept small so a mutation that still runs finishes quickly
SMALL_WIDGETS = {"fine_steps": 8, "steps": 4, "batch_size": 2, "iterations": 2, "train_batches": 1,
                 "reference_steps": 8, "nfe": 2}

MUTATIONS: dict[str, Any] = {
    "nan": math.nan, "inf": math.inf, "-inf": -math.inf, "huge": 1e300, "negative": -1e9, "zero": 0,
    "surrogate": "\ud800", "empty": "", "control": "a\x00b\nc", "list": [1, 2, 3], "object": {"x": 1},
    "bool": True, "bad_link": ["999999", 0], "self_link": None,   # self_link: set per node
}


def input_specs(info: dict) -> list[tuple[str, Any, dict, bool]]:
    """(name, type, options, required) of a node's inputs as /object_info lists them."""
    out = []
    for section, required in (("required", True), ("optional", False)):
        for name, spec in (info["input"].get(section) or {}).items():
            out.append((name, spec[0], spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}, required))
    return out


def is_widget(kind: Any) -> bool:
    return isinstance(kind, list) or kind in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")


def default_value(name: str, kind: Any, options: dict) -> Any:
    if isinstance(kind, list) or kind == "COMBO":
        choices = kind if isinstance(kind, list) else options.get("options", [])
        return options.get("default", choices[0] if choices else "")
    if name in SMALL_WIDGETS and kind == "INT":
        return max(options.get("min", 0), min(SMALL_WIDGETS[name], options.get("max", SMALL_WIDGETS[name])))
    return options.get("default", {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(kind))


class PromptBuilder:
    def __init__(self, object_info: dict):
        self.info, self.prompt, self.cache = object_info, {}, {}

    def provide(self, kind: str) -> list | None:
        if kind not in PROVIDERS:
            return None
        if kind not in self.cache:
            node_type, overrides = PROVIDERS[kind]
            self.cache[kind] = [self.add(node_type, overrides), 0]
        return self.cache[kind]

    def add(self, node_type: str, overrides: dict | None = None) -> str:
        overrides = overrides or {}
        inputs = {}
        for name, kind, options, required in input_specs(self.info[node_type]):
            if is_widget(kind):
                if required or name in overrides:
                    inputs[name] = overrides.get(name, default_value(name, kind, options))
            elif required:
                link = self.provide(kind)
                if link is not None:
                    inputs[name] = link
        node_id = str(len(self.prompt) + 1)
        self.prompt[node_id] = {"class_type": node_type, "inputs": inputs}
        return node_id


def harness(object_info: dict, node_type: str) -> tuple[dict, str]:
    """(API prompt, id of the node under test) with PreviewAny on the node's first output."""
    builder = PromptBuilder(object_info)
    target = builder.add(node_type)
    builder.prompt[str(len(builder.prompt) + 1)] = {"class_type": "PreviewAny", "inputs": {"source": [target, 0]}}
    return builder.prompt, target


def widget_inputs(object_info: dict, node_type: str) -> list[str]:
    return [name for name, kind, _, required in input_specs(object_info[node_type]) if required and is_widget(kind)]


def socket_inputs(object_info: dict, node_type: str) -> list[str]:
    return [name for name, kind, _, required in input_specs(object_info[node_type])
            if required and not is_widget(kind)]
