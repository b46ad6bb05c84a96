"""Bounded fuzzer of /prompt: every RectiFlow node, every required input, a fixed set of mutations (NaN, inf,
huge, negative, odd strings, wrong JSON types, bad links). Each case must be refused at /prompt, fail with an
execution error, or finish, within a time cap; messages carry no Python internals; afterwards the server is up and
still draws the quickstart image."""
from __future__ import annotations

import json
import time

import pytest
import requests

from rectiflow.headless import client, convert
from rectiflow.testing.comfy_host import REPO
from fuzz_harness import MUTATIONS, harness, socket_inputs, widget_inputs

pytestmark = pytest.mark.server

CASE_SECONDS = 30.0
STOP_SECONDS = 10.0      # a case past CASE_SECONDS is interrupted and must stop within this
INTERNALS = ("Traceback", "object has no attribute", "not subscriptable", "unsupported operand", "NoneType",
             "object is not callable", "index out of range", "KeyError", "math range error")
WIDGET_MUTATIONS = ("nan", "inf", "-inf", "huge", "negative", "zero", "surrogate", "empty", "control", "list",
                    "object", "bool", "bad_link")
SOCKET_MUTATIONS = ("huge", "surrogate", "object", "bad_link", "self_link")


def node_types(object_info_cache=[]):
    if not object_info_cache:
        from rectiflow.testing.comfy_host import boot_comfyui
        object_info_cache.append(sorted(k for k in boot_comfyui().NODE_CLASS_MAPPINGS if k.startswith("RectiFlow")))
    return object_info_cache[0]


def post_prompt(server: str, prompt: dict) -> requests.Response:
    """POST /prompt as the editor's JSON does, NaN and Infinity literals included (requests' json= refuses them)."""
    body = json.dumps({"prompt": prompt, "client_id": "rectiflow-fuzz"}, allow_nan=True)
    return requests.post(f"{server}/prompt", data=body, headers={"Content-Type": "application/json"}, timeout=30)


def finished(server: str, prompt_id: str, seconds: float) -> dict | None:
    """The prompt's history entry once it finished, or None after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        entry = requests.get(f"{server}/history/{prompt_id}", timeout=10).json().get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            return entry
        time.sleep(0.05)
    return None


def wait_for(server: str, prompt_id: str) -> dict:
    """The prompt's history entry; a prompt still running after CASE_SECONDS is interrupted and must then stop
    within STOP_SECONDS (a bounded run), else TimeoutError."""
    entry = finished(server, prompt_id, CASE_SECONDS)
    if entry is None:
        requests.post(f"{server}/interrupt", timeout=10)
        entry = finished(server, prompt_id, STOP_SECONDS)
    if entry is None:
        raise TimeoutError
    return entry


def outcome(server: str, prompt: dict) -> str:
    """'rejected', 'error' or 'ran'; raises AssertionError when a message shows Python internals, TimeoutError
    when the case outlives CASE_SECONDS."""
    response = post_prompt(server, prompt)
    if response.status_code == 400:
        kind, message = "rejected", response.text
    else:
        assert response.status_code == 200, f"HTTP {response.status_code}: {response.text[:300]}"
        entry = wait_for(server, response.json()["prompt_id"])
        messages = entry["status"].get("messages", [])
        if any(m[0] == "execution_interrupted" for m in messages):
            return "interrupted"
        failures = [m[1] for m in messages if m[0] == "execution_error"]
        if not failures:
            return "ran"
        kind, message = "error", str(failures[0].get("exception_message", ""))
    leaked = [marker for marker in INTERNALS if marker in message]
    assert not leaked, f"message shows Python internals {leaked}: {message[:400]}"
    return kind


def mutated(prompt: dict, target: str, name: str, mutation: str) -> dict:
    case = json.loads(json.dumps(prompt))
    value = [target, 0] if mutation == "self_link" else MUTATIONS[mutation]
    case[target]["inputs"][name] = value
    return case


@pytest.mark.parametrize("node_type", node_types())
def test_every_input_of_the_node_survives_the_mutations(server, object_info, tmp_path, node_type):
    prompt, target = harness(object_info, node_type)
    cases = [(name, m) for name in widget_inputs(object_info, node_type) for m in WIDGET_MUTATIONS]
    cases += [(name, m) for name in socket_inputs(object_info, node_type) for m in SOCKET_MUTATIONS]
    seen = {}
    for name, mutation in cases:
        start = time.monotonic()
        try:
            kind = outcome(server, mutated(prompt, target, name, mutation))
        except TimeoutError:
            pytest.fail(f"{node_type}.{name} = {mutation}: still running {STOP_SECONDS:g} s after an interrupt")
        except AssertionError as exc:
            pytest.fail(f"{node_type}.{name} = {mutation}: {exc}")
        seen[(name, mutation)] = (kind, round(time.monotonic() - start, 2))
    assert requests.get(f"{server}/system_stats", timeout=10).ok
    queue = requests.get(f"{server}/queue", timeout=10).json()
    assert not queue["queue_running"] and not queue["queue_pending"], seen


def test_the_server_still_draws_the_quickstart_after_the_fuzzer(server, object_info, tmp_path):
    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    saved = client.run_prompt(server, convert.ui_to_api(workflow, object_info), tmp_path, timeout=300)
    assert saved and saved[0].stat().st_size > 0
