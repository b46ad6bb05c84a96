"""Odd strings in every text or combo input of every RectiFlow node give a clean, loggable error.

ComfyUI logs a failing node's message from its prompt worker; a message that cannot be encoded (a lone
surrogate, which the JSON API lets through) kills that worker. Every node must quote such input safely.
"""
from __future__ import annotations

import pytest

from rectiflow.testing.comfy_host import boot_comfyui, rectiflow_widgets, run_node

ODD_STRINGS = ["\ud800", "a\udfffb", "\x00", "../" * 8 + "etc/passwd", "/etc/passwd", "%s%n{0}{}", "\u202e" * 3,
               "x" * 100_000]
SOCKET_MAKERS = {
    "MODEL": lambda: run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors")[0],
    "CONDITIONING": lambda: run_node("RectiFlowDigitsLabel", labels="3")[0],
    "LATENT": lambda: run_node("RectiFlowDigitsEmptyLatent", batch_size=1)[0],
    "SAMPLER": lambda: run_node("RectiFlowSamplerEuler")[0],
    "NOISE": lambda: run_node("RandomNoise", noise_seed=0)[0],
}


def socket_value(kind: str):
    if kind == "GUIDER":
        return run_node("BasicGuider", model=SOCKET_MAKERS["MODEL"](), conditioning=SOCKET_MAKERS["CONDITIONING"]())[0]
    if kind == "SIGMAS":
        return run_node("BasicScheduler", model=SOCKET_MAKERS["MODEL"](), scheduler="simple", steps=2, denoise=1.0)[0]
    return SOCKET_MAKERS[kind]()


def default_inputs(node_id: str) -> dict:
    cls = boot_comfyui().NODE_CLASS_MAPPINGS[node_id]
    inputs = {}
    for name, spec in cls.INPUT_TYPES().get("required", {}).items():
        kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
        if isinstance(kind, list):
            inputs[name] = options.get("default", kind[0])
        elif kind == "COMBO":
            inputs[name] = options.get("default", (options.get("options") or [None])[0])   # a model list may be empty
        elif kind in ("INT", "FLOAT", "STRING", "BOOLEAN"):
            inputs[name] = options.get("default")
        else:
            inputs[name] = socket_value(kind)
    return inputs


CASES = [(node_id, name) for node_id, name, _ in rectiflow_widgets(("STRING", "COMBO"))]


def test_the_pack_has_text_inputs_to_check():
    names = {node for node, _ in CASES}
    assert {"RectiFlowDigitsLabel", "RectiFlowDigitsModelLoader", "RectiFlowSamplerSelect"} <= names


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("node_id, input_name", CASES, ids=[f"{n}.{i}" for n, i in CASES])
def test_odd_strings_give_loggable_errors(comfy, node_id, input_name):
    base = default_inputs(node_id)
    for odd in ODD_STRINGS:
        try:
            run_node(node_id, **{**base, input_name: odd})
        except Exception as err:  # noqa: BLE001  (any error is fine as long as ComfyUI can log it)
            message = f"{type(err).__name__}: {err}"
            message.encode("utf-8")
            assert len(message) < 2000, f"{node_id}.{input_name}: message of {len(message)} characters"
            assert input_name in message, f"{node_id}.{input_name}: message does not name the input: {message!r}"
        else:
            pytest.fail(f"{node_id}.{input_name} accepted {odd[:20]!r}")
