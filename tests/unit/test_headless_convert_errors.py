"""Malformed UI files give a ConversionError naming the node (id, index, type) or link, never a traceback."""
from __future__ import annotations

import pytest

from rectiflow.headless.convert import ConversionError, ui_to_api

INFO = {
    "EmptyImage": {"input": {"required": {"width": ("INT", {}), "height": ("INT", {})}},
                   "input_order": {"required": ["width", "height"]}, "output": ["IMAGE"]},
    "SaveImage": {"input": {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {})}},
                  "input_order": {"required": ["images", "filename_prefix"]}, "output": []},
}


def two_nodes(links, **overrides):
    save = {"id": 2, "type": "SaveImage", "inputs": [{"name": "images", "type": "IMAGE", "link": 1}],
            "widgets_values": ["x"]}
    save.update(overrides)
    return {"nodes": [{"id": 1, "type": "EmptyImage", "widgets_values": [8, 8]}, save], "links": links}


GOOD_LINK = [1, 1, 0, 2, 0, "IMAGE"]


def test_the_valid_file_converts():
    api = ui_to_api(two_nodes([GOOD_LINK]), INFO)
    assert api["2"]["inputs"] == {"filename_prefix": "x", "images": ["1", 0]}


@pytest.mark.parametrize("workflow, message", [
    ({"nodes": [{"id": 1, "type": "EmptyImage"}, {"type": "SaveImage"}], "links": []},
     r"^node at index 1 \(SaveImage\) has no 'id'$"),
    ({"nodes": [{"id": [3], "type": "EmptyImage"}], "links": []},
     r"^node at index 0 \(EmptyImage\): 'id' must be a number or a string, got \[3\]$"),
    ({"nodes": [{"id": 4}], "links": []}, r"^node 4 at index 0 has no 'type'$"),
    ({"nodes": ["EmptyImage"], "links": []}, r"^node at index 0 is not an object: EmptyImage$"),
    ({"nodes": [{"id": 1, "type": "EmptyImage"}, {"id": 1, "type": "SaveImage"}], "links": []},
     r"^node id 1 appears twice \(second time at index 1\)$"),
    (two_nodes([GOOD_LINK], inputs=[{"type": "IMAGE", "link": 1}]), r"^node 2 \(SaveImage\): an input has no 'name'$"),
    (two_nodes([GOOD_LINK], inputs={"images": 1}), r"^node 2 \(SaveImage\): 'inputs' must be a list of objects$"),
    ({"nodes": [{"id": 1, "type": "Bad\ud800Type"}], "links": []}, r"node 1 \('Bad\\ud800Type'\): node type is not known"),
])
def test_malformed_nodes_are_named(workflow, message):
    with pytest.raises(ConversionError, match=message):
        ui_to_api(workflow, INFO)


@pytest.mark.parametrize("links, message", [
    ([GOOD_LINK, [2, 1, 0]], r"^link at index 1 \[2, 1, 0\] has 3 fields, expected 6: \[id, origin_id, "),
    ([{"id": 9, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"}],
     r"^link at index 0 \(id 9\) is missing origin_id$"),
    ([{"origin_id": 1, "target_id": 2}], r"^link at index 0 \(id None\) is missing id, origin_slot, target_slot$"),
    ([[1, 1, "zero", 2, 0, "IMAGE"]], r"^link 1 \(index 0\): origin_slot must be an integer, got zero$"),
    (["1,1,0,2,0"], r"^link at index 0 is neither a list nor an object: 1,1,0,2,0$"),
    ({"1": GOOD_LINK}, r"^'links' must be a list, got dict$"),
])
def test_malformed_links_are_named(links, message):
    with pytest.raises(ConversionError, match=message):
        ui_to_api(two_nodes(links), INFO)


def test_a_link_array_without_its_type_still_converts():
    api = ui_to_api(two_nodes([GOOD_LINK[:5]]), INFO)
    assert api["2"]["inputs"]["images"] == ["1", 0]


def test_a_shape_error_deeper_in_a_node_names_the_node():
    workflow = two_nodes([GOOD_LINK], inputs=[{"name": "images", "type": "IMAGE", "link": "not a link id"}])
    with pytest.raises(ConversionError, match=r"^node 2 \(SaveImage\): malformed node or /object_info entry "
                                              r"\(ValueError: "):
        ui_to_api(workflow, INFO)


def test_a_broken_object_info_entry_is_named():
    with pytest.raises(ConversionError, match=r"^node 1 \(EmptyImage\): the server's /object_info entry is not an object$"):
        ui_to_api(two_nodes([GOOD_LINK]), {**INFO, "EmptyImage": ["INT"]})
