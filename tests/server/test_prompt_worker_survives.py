"""Odd strings in every text widget of every shipped workflow: the prompt worker stays alive.

A lone surrogate in a message ComfyUI logs used to kill its prompt worker thread, so that no prompt ever ran
again although the HTTP server still answered. After every odd prompt the quickstart must still run.
"""
from __future__ import annotations

import json

import pytest
import requests

from rectiflow.testing.comfy_host import REPO
from rectiflow.headless import client, convert

pytestmark = pytest.mark.server

ODD_STRINGS = ["\ud800", "x\udfff", "\x00", "../../../../etc/passwd"]
WORKER_WAIT = 120.0   # seconds for a prompt to show up in /history; a dead worker never gets it there


def api_workflow(name: str, object_info: dict, batch_size: int | None = None) -> dict:
    prompt = convert.ui_to_api(json.loads((REPO / "workflows" / name).read_text()), object_info)
    for node in prompt.values():
        if batch_size and "batch_size" in node["inputs"]:
            node["inputs"]["batch_size"] = batch_size   # keeps the graphs that run before failing cheap
    return prompt


def text_widgets(prompt: dict) -> list[tuple[str, str]]:
    return [(node_id, name) for node_id, node in prompt.items() if node["class_type"].startswith("RectiFlow")
            for name, value in node["inputs"].items() if isinstance(value, str)]


def test_odd_strings_never_stop_the_prompt_worker(server, object_info, tmp_path):
    workflows = sorted(p.name for p in (REPO / "workflows").glob("*.json"))
    cases = [(name, node_id, field) for name in workflows for node_id, field in text_widgets(api_workflow(name, object_info))]
    assert len(cases) >= 8
    for name, node_id, field in cases:
        for odd in ODD_STRINGS:
            prompt = api_workflow(name, object_info, batch_size=1)
            prompt[node_id]["inputs"][field] = odd
            answer = requests.post(f"{server}/prompt", json={"prompt": prompt, "client_id": "fuzz"}, timeout=30)
            if answer.status_code == 200:   # refused at validation (node_errors) or failing when it runs
                entry = client.fetch_history(server, answer.json()["prompt_id"], wait=WORKER_WAIT)
                refused = node_id in answer.json().get("node_errors", {})
                assert refused or entry["status"]["status_str"] == "error", (name, node_id, field, odd)
            else:
                assert answer.status_code == 400, answer.text
    saved = client.run_prompt(server, api_workflow("digits_quickstart.json", object_info), tmp_path, timeout=300)
    assert saved and saved[0].stat().st_size > 0
