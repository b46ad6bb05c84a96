"""Every RectiFlow node checks its widget values when a prompt is queued: NaN, infinities, out-of-range numbers
and unknown combo values are refused by name (ComfyUI's own min/max test lets NaN through)."""
from __future__ import annotations

import math

import pytest

from rectiflow.testing.comfy_host import boot_comfyui, rectiflow_widgets


def defaults(node_id: str) -> dict:
    cls = boot_comfyui().NODE_CLASS_MAPPINGS[node_id]
    return {name: spec[1].get("default") for section in cls.INPUT_TYPES().values()
            for name, spec in section.items() if len(spec) > 1 and "default" in spec[1]}


def validate(node_id: str, **inputs):
    return boot_comfyui().NODE_CLASS_MAPPINGS[node_id].validate_inputs(**inputs)


NUMBERS = rectiflow_widgets(("FLOAT", "INT"))
COMBOS = rectiflow_widgets(("COMBO",))


def test_every_node_accepts_its_defaults(comfy):
    for node_id in {n for n, _, _ in NUMBERS + COMBOS}:
        assert validate(node_id, **defaults(node_id)) is True, node_id


@pytest.mark.parametrize("node_id, name, options", NUMBERS, ids=[f"{n}.{i}" for n, i, _ in NUMBERS])
def test_numbers_reject_nan_inf_and_out_of_range(comfy, node_id, name, options):
    base = defaults(node_id)
    bad = [math.nan, math.inf, -math.inf]
    if "max" in options:
        bad.append(options["max"] * 2 + 1)
    if "min" in options:
        bad.append(options["min"] - 1)
    for value in bad:
        verdict = validate(node_id, **{**base, name: value})
        assert isinstance(verdict, str) and verdict.startswith(f"{name}: expected"), (node_id, name, value, verdict)


@pytest.mark.parametrize("node_id, name, options", COMBOS, ids=[f"{n}.{i}" for n, i, _ in COMBOS])
def test_combos_reject_values_not_in_the_list(comfy, node_id, name, options):
    verdict = validate(node_id, **{**defaults(node_id), name: "not-an-option"})
    assert verdict.startswith(f"{name}: 'not-an-option' is not an option"), verdict


def test_linked_inputs_are_left_to_execution(comfy):
    assert validate("RectiFlowDigitsLatentToImage", samples=None, scale=4, grid_columns=0) is True



def socket_inputs() -> list[tuple[str, str, str]]:
    """(node id, input name, kind) of every RectiFlow input that takes a link (MODEL, LATENT, SIGMAS, ...)."""
    cls_of = boot_comfyui().NODE_CLASS_MAPPINGS
    return [(node_id, name, spec[0]) for node_id, cls in sorted(cls_of.items()) if node_id.startswith("RectiFlow")
            for section in cls.INPUT_TYPES().values() if isinstance(section, dict)
            for name, spec in section.items()
            if isinstance(spec[0], str) and spec[0] not in ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")]


def test_a_plain_value_where_a_link_belongs_is_refused_by_name(comfy):
    """A number or string given in the prompt for a MODEL, LATENT, ... input used to reach the node and fail with
    a Python error ('float' object has no attribute ...); it is refused at /prompt, naming the input."""
    cases = socket_inputs()
    assert len(cases) > 40
    for node_id, name, kind in cases:
        for value in (3.0, "\ud800", [1]):
            verdict = validate(node_id, **{**defaults(node_id), name: value})
            assert isinstance(verdict, str) and verdict.startswith(f"{name}: expected a link from a {kind} output"), (
                node_id, name, verdict)


def test_links_to_missing_outputs_of_rectiflow_inputs_are_marked_and_reported(comfy):
    from rectiflow.nodes.prompt_links import mark_bad_links
    prompt = {"1": {"class_type": "RectiFlowDigitsEmptyLatent", "inputs": {"batch_size": 4}},
              "2": {"class_type": "RectiFlowDigitsLatentToImage", "inputs": {"samples": ["1", -1], "scale": 4}},
              "3": {"class_type": "RectiFlowDigitsLatentToImage", "inputs": {"samples": ["1", 0], "scale": 4}},
              "4": {"class_type": "PreviewImage", "inputs": {"images": ["2", -1]}},
              "5": {"class_type": "RectiFlowDigitsLatentToImage", "inputs": {"samples": ["99", 5], "scale": 4}}}
    marked = mark_bad_links({"prompt": prompt})["prompt"]
    assert marked["3"]["inputs"]["samples"] == ["1", 0]          # a valid link is untouched
    assert marked["4"]["inputs"]["images"] == ["2", -1]          # not a RectiFlow node: ComfyUI's business
    assert marked["5"]["inputs"]["samples"] == {"rectiflow_link_problem": "samples: the link names node '99', which "
                                                "is not in the prompt; expected the id of a node there"}
    verdict = validate("RectiFlowDigitsLatentToImage", **{**defaults("RectiFlowDigitsLatentToImage"),
                                                           "samples": marked["2"]["inputs"]["samples"]})
    assert verdict == ("samples: the link names output -1 of node '1', which has outputs 0..0; expected an output "
                       "index in that range")
