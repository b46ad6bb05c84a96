"""Unit tests of scripts/run_workflow.py: UI -> API conversion and websocket message handling (no server)."""
from __future__ import annotations

import io
import json
import time

import pytest

from rectiflow.scripts import run_workflow as rw

OBJECT_INFO = {
    "EmptyImage": {
        "input": {"required": {"width": ("INT", {"default": 512}), "height": ("INT", {"default": 512}),
                               "batch_size": ("INT", {"default": 1}), "color": ("INT", {"default": 0})}},
        "input_order": {"required": ["width", "height", "batch_size", "color"]},
        "output": ["IMAGE"], "display_name": "EmptyImage",
    },
    "ImageInvert": {
        "input": {"required": {"image": ("IMAGE",)}},
        "output": ["IMAGE"], "display_name": "Invert Image",
    },
    "SaveImage": {
        "input": {"required": {"images": ("IMAGE",), "filename_prefix": ("STRING", {"default": "ComfyUI"})}},
        "input_order": {"required": ["images", "filename_prefix"]},
        "output": [], "display_name": "Save Image",
    },
    "Sampler": {
        # dict order deliberately differs from input_order: input_order wins
        "input": {
            "required": {"steps": ("INT", {}), "image": ("IMAGE",),
                         "seed": ("INT", {"control_after_generate": True}),
                         "sampler_name": (["euler", "heun"],), "strength": ("FLOAT", {})},
            "optional": {"mode": ("COMBO", {"options": ["a", "b"], "control_after_generate": True}),
                         "note": ("STRING", {"multiline": True}),
                         "sigma": ("FLOAT", {"forceInput": True})},
        },
        "input_order": {"required": ["image", "seed", "steps", "sampler_name", "strength"],
                        "optional": ["mode", "sigma", "note"]},
        "output": ["IMAGE"],
    },
    "Noise": {  # no input_order: keys of required then optional; noise_seed gets a control by its name
        "input": {"required": {"noise_seed": ("INT", {}), "seed": ("INT", {"control_after_generate": False}),
                               "scale": ("FLOAT", {})}},
        "output": ["FLOAT"],
    },
}


def node(node_id, node_type, widgets=None, inputs=(), outputs=(), mode=0, title=None):
    data = {"id": node_id, "type": node_type, "mode": mode, "inputs": list(inputs),
            "outputs": list(outputs), "widgets_values": widgets if widgets is not None else []}
    if title:
        data["title"] = title
    return data


def socket(name, link=None, type_="IMAGE", widget=False):
    entry = {"name": name, "type": type_, "link": link}
    if widget:
        entry["widget"] = {"name": name}
    return entry


def workflow(nodes, links):
    return {"last_node_id": max(n["id"] for n in nodes), "nodes": nodes, "links": links, "version": 0.4}


def test_links_and_widgets_with_title():
    wf = workflow(
        [node(1, "EmptyImage", [64, 32, 1, 255], outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [1]}]),
         node(2, "SaveImage", ["out"], inputs=[socket("images", 1)], title="Keep me")],
        [[1, 1, 0, 2, 0, "IMAGE"]])
    api = rw.ui_to_api(wf, OBJECT_INFO)
    assert api == {
        "1": {"inputs": {"width": 64, "height": 32, "batch_size": 1, "color": 255},
              "class_type": "EmptyImage", "_meta": {"title": "EmptyImage"}},
        "2": {"inputs": {"filename_prefix": "out", "images": ["1", 0]},
              "class_type": "SaveImage", "_meta": {"title": "Keep me"}},
    }


def test_control_after_generate_values_are_skipped_and_input_order_is_used():
    wf = workflow([node(5, "Sampler", [123, "randomize", 20, "heun", 0.5, "b", "fixed", "hello"],
                        inputs=[socket("image")])], [])
    inputs = rw.ui_to_api(wf, OBJECT_INFO)["5"]["inputs"]
    assert inputs == {"seed": 123, "steps": 20, "sampler_name": "heun", "strength": 0.5,
                      "mode": "b", "note": "hello"}


def test_seed_by_name_and_explicit_false_flag():
    wf = workflow([node(3, "Noise", [7, "increment", 9, 1.5])], [])
    assert rw.ui_to_api(wf, OBJECT_INFO)["3"]["inputs"] == {"noise_seed": 7, "seed": 9, "scale": 1.5}


def test_linked_widget_keeps_its_slot_and_primitive_value_is_pushed():
    primitive = node(7, "PrimitiveNode", [4242, "fixed"],
                     outputs=[{"name": "INT", "type": "INT", "links": [3], "widget": {"name": "seed"}}])
    sampler = node(5, "Sampler", [1, "fixed", 20, "euler", 1.0, "a", "fixed", ""],
                   inputs=[socket("image"), socket("seed", 3, "INT", widget=True),
                           socket("sigma", 4, "FLOAT")])
    noise = node(6, "Noise", [0, "fixed", 0, 0.25], outputs=[{"name": "FLOAT", "type": "FLOAT", "links": [4]}])
    wf = workflow([primitive, sampler, noise], [[3, 7, 0, 5, 1, "INT"], [4, 6, 0, 5, 2, "FLOAT"]])
    api = rw.ui_to_api(wf, OBJECT_INFO)
    assert "7" not in api
    assert api["5"]["inputs"] == {"seed": 4242, "steps": 20, "sampler_name": "euler", "strength": 1.0,
                                  "mode": "a", "note": "", "sigma": ["6", 0]}


def test_reroute_chain_is_followed_and_note_nodes_are_dropped():
    wf = workflow(
        [node(1, "EmptyImage", [8, 8, 1, 0]),
         node(10, "Reroute", inputs=[socket("", 1, "*")], outputs=[{"name": "", "type": "IMAGE", "links": [2]}]),
         node(11, "Reroute", inputs=[socket("", 2, "*")], outputs=[{"name": "", "type": "IMAGE", "links": [3]}]),
         node(2, "SaveImage", ["x"], inputs=[socket("images", 3)]),
         node(20, "Note", ["just a note"]),
         node(21, "MarkdownNote", ["# heading"])],
        [[1, 1, 0, 10, 0, "IMAGE"], [2, 10, 0, 11, 0, "*"], [3, 11, 0, 2, 0, "IMAGE"]])
    api = rw.ui_to_api(wf, OBJECT_INFO)
    assert set(api) == {"1", "2"}
    assert api["2"]["inputs"]["images"] == ["1", 0]


def test_muted_node_is_not_sent_and_its_links_are_dropped():
    wf = workflow(
        [node(1, "EmptyImage", [8, 8, 1, 0]),
         node(3, "ImageInvert", inputs=[socket("image", 1)], mode=rw.MUTED),
         node(2, "SaveImage", ["x"], inputs=[socket("images", 2)])],
        [[1, 1, 0, 3, 0, "IMAGE"], [2, 3, 0, 2, 0, "IMAGE"]])
    api = rw.ui_to_api(wf, OBJECT_INFO)
    assert set(api) == {"1", "2"}
    assert api["2"]["inputs"] == {"filename_prefix": "x"}


def test_bypassed_node_passes_its_matching_input_through():
    wf = workflow(
        [node(1, "EmptyImage", [8, 8, 1, 0]),
         node(3, "ImageInvert", inputs=[socket("image", 1)],
              outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [2]}], mode=rw.BYPASSED),
         node(2, "SaveImage", ["x"], inputs=[socket("images", 2)])],
        [[1, 1, 0, 3, 0, "IMAGE"], [2, 3, 0, 2, 0, "IMAGE"]])
    api = rw.ui_to_api(wf, OBJECT_INFO)
    assert set(api) == {"1", "2"}
    assert api["2"]["inputs"]["images"] == ["1", 0]


def test_dict_widgets_values_and_object_links():
    wf = workflow(
        [node(1, "EmptyImage", {"width": 16, "height": 24, "batch_size": 2, "color": 1}),
         node(2, "SaveImage", {"filename_prefix": "d"}, inputs=[socket("images", 9)])],
        [{"id": 9, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 0, "type": "IMAGE"}])
    api = rw.ui_to_api(wf, OBJECT_INFO)
    assert api["1"]["inputs"] == {"width": 16, "height": 24, "batch_size": 2, "color": 1}
    assert api["2"]["inputs"] == {"filename_prefix": "d", "images": ["1", 0]}


def test_unknown_node_type_names_node_id_and_type():
    wf = workflow([node(1, "EmptyImage", [8, 8, 1, 0]), node(42, "NoSuchNode", [1])], [])
    with pytest.raises(rw.ConversionError, match=r"node 42 \(NoSuchNode\)"):
        rw.ui_to_api(wf, OBJECT_INFO)


def test_unknown_type_is_ignored_when_muted():
    wf = workflow([node(42, "NoSuchNode", [1], mode=rw.MUTED)], [])
    assert rw.ui_to_api(wf, OBJECT_INFO) == {}


def test_api_format_is_recognised():
    assert rw.is_api_format({"1": {"class_type": "EmptyImage", "inputs": {}}})
    assert not rw.is_api_format(workflow([node(1, "EmptyImage", [8, 8, 1, 0])], []))


class FakeSocket:
    """Replays websocket frames for follow_execution."""

    def __init__(self, frames):
        self.frames = list(frames)

    def settimeout(self, seconds):
        pass

    def recv(self):
        frame = self.frames.pop(0)
        return frame if isinstance(frame, bytes) else json.dumps(frame)


def _follow(frames, stream):
    printer = rw.ProgressPrinter({"5": "KSampler"}, stream=stream)
    rw.follow_execution(FakeSocket(frames), "p1", time.monotonic() + 30, printer)


def test_follow_execution_prints_throttled_progress_and_stops_at_end():
    frames = [{"type": "executing", "data": {"node": "5", "prompt_id": "p1"}}, b"\x00preview"]
    frames += [{"type": "progress", "data": {"node": "5", "value": v, "max": 40, "prompt_id": "p1"}}
               for v in range(1, 41)]
    frames += [{"type": "progress", "data": {"node": "9", "value": 1, "max": 2, "prompt_id": "other"}},
               {"type": "executing", "data": {"node": None, "prompt_id": "p1"}}]
    stream = io.StringIO()
    _follow(frames, stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[node 5 KSampler] running"
    assert lines[-1] == "[node 5 KSampler] step 40/40"
    assert 2 <= len(lines) <= 13  # at most one line per tenth on a non-terminal


def test_follow_execution_raises_workflow_error():
    frames = [{"type": "execution_error", "data": {"prompt_id": "p1", "node_id": "3", "node_type": "ImageScale",
                                                   "exception_message": "bad size\n"}}]
    with pytest.raises(rw.WorkflowError, match=r"^error in node 3 \(ImageScale\): bad size$") as caught:
        _follow(frames, io.StringIO())
    assert (caught.value.node_id, caught.value.node_type) == ("3", "ImageScale")
