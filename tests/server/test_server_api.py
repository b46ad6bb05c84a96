"""A real ComfyUI server on a loopback port: /object_info, every workflow, bad input keeps it up."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from rectiflow.testing.comfy_host import REPO
from rectiflow.headless import client, convert, errors

pytestmark = pytest.mark.server


WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))


def test_object_info_lists_every_rectiflow_node_with_category_and_tooltips(comfy, object_info):
    ours = {k for k, cls in comfy.NODE_CLASS_MAPPINGS.items() if k.startswith("RectiFlow")}
    assert ours, "the pack registered no nodes in process"
    listed = {k for k in object_info if k.startswith("RectiFlow")}
    assert listed == ours
    for node_id in ours:
        info = object_info[node_id]
        assert info["category"].startswith("sampling/rectiflow/"), node_id
        assert info["description"], node_id
        assert "rectiflow" in info["python_module"], node_id
        for section in ("required", "optional"):
            for name, spec in info["input"].get(section, {}).items():
                assert len(spec) > 1 and spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"


def run_ui_workflow(base_url, object_info, workflow: dict, out_dir: Path):
    return client.run_prompt(base_url, convert.ui_to_api(workflow, object_info), out_dir, timeout=300)


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_every_workflow_runs_without_error(server, object_info, path, tmp_path):
    saved = run_ui_workflow(server, object_info, json.loads(path.read_text()), tmp_path)
    assert saved and all(p.stat().st_size > 0 for p in saved)


def test_quickstart_grid_is_ten_columns_of_digits(server, object_info, tmp_path):
    from PIL import Image

    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    saved = run_ui_workflow(server, object_info, workflow, tmp_path)
    image = Image.open(saved[0])
    assert image.size == (10 * 16 * 4, 4 * 16 * 4)


def test_optimal_steps_reference_is_computed_once_across_prompts(server, object_info, tmp_path):
    """ComfyUI's execution cache keeps the Reference Trajectory while its inputs are unchanged: a second prompt
    with another step count reuses it and still runs Optimal Steps and the sampler."""
    workflow = json.loads((REPO / "workflows" / "digits_optimal_steps.json").read_text())
    reference_id = next(str(n["id"]) for n in workflow["nodes"] if n["type"] == "RectiFlowReferenceTrajectory")
    optimal_id = set_widget(workflow, "RectiFlowOptimalSteps", 0, 4)
    run_ui_workflow(server, object_info, workflow, tmp_path / "first")
    set_widget(workflow, "RectiFlowOptimalSteps", 0, 3)
    saved = run_ui_workflow(server, object_info, workflow, tmp_path / "second")
    assert saved
    history = requests.get(f"{server}/history", params={"max_items": 1}, timeout=30).json()
    messages = dict(next(iter(history.values()))["status"]["messages"])
    assert reference_id in messages["execution_cached"]["nodes"]
    assert str(optimal_id) not in messages["execution_cached"]["nodes"]


def test_the_runner_prints_the_cost_long_nodes_announce(server, tmp_path):
    """Reference Trajectory and Optimal Steps say their cost up front as progress text; rectiflow-run prints it."""
    workflow = json.loads((REPO / "workflows" / "digits_optimal_steps.json").read_text())
    set_widget(workflow, "RectiFlowReferenceTrajectory", 2, 24)      # fine_steps: not cached from other tests
    path = tmp_path / "optimal.json"
    path.write_text(json.dumps(workflow))
    result = subprocess.run([str(Path(sys.executable).with_name("rectiflow-run")), str(path), "--server", server,
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "RectiFlowReferenceTrajectory] reference solve: 47 model calls (24 Heun steps) on batch" in result.stdout
    assert "s left at the first step's pace" in result.stdout
    assert "RectiFlowOptimalSteps] comparing 300 Euler jumps on the reference grid" in result.stdout


def set_widget(workflow: dict, node_type: str, index: int, value):
    node = next(n for n in workflow["nodes"] if n["type"] == node_type)
    node["widgets_values"][index] = value
    return node["id"]


@pytest.mark.parametrize("node_type, index, value, message", [
    ("RectiFlowDigitsLabel", 0, "12", "labels: '12' is not a digit label"),
])
def test_bad_input_is_named_and_the_server_stays_up(server, object_info, tmp_path, node_type, index, value, message):
    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    node_id = set_widget(workflow, node_type, index, value)
    with pytest.raises(errors.WorkflowError) as err:
        run_ui_workflow(server, object_info, workflow, tmp_path)
    assert err.value.node_id == str(node_id) and err.value.node_type == node_type
    assert message in err.value.message
    assert requests.get(f"{server}/system_stats", timeout=10).ok


def test_wrong_latent_shape_is_named(server, tmp_path):
    prompt = {
        "1": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "2": {"class_type": "RectiFlowDigitsLatentToImage", "inputs": {"samples": ["1", 0], "scale": 1,
                                                                        "grid_columns": 0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    with pytest.raises(errors.WorkflowError, match=r"samples: expected a digits latent of shape \[batch, 1, 16, 16\]"):
        client.run_prompt(server, prompt, tmp_path, timeout=120)
    assert requests.get(f"{server}/system_stats", timeout=10).ok


def test_runner_cli_exits_nonzero_naming_the_node(server, tmp_path):
    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    node_id = set_widget(workflow, "RectiFlowDigitsLabel", 0, "3 seven")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(workflow))
    result = subprocess.run([str(Path(sys.executable).with_name("rectiflow-run")), str(bad), "--server", server,
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert f"error in node {node_id} (RectiFlowDigitsLabel): labels: 'seven' is not a digit label" in result.stderr


def test_missing_conditioning_is_rejected_by_name(server, object_info, tmp_path):
    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    api = convert.ui_to_api(workflow, object_info)
    guider_id = next(k for k, n in api.items() if n["class_type"] == "CFGGuider")
    del api[guider_id]["inputs"]["positive"]
    with pytest.raises(errors.PromptRejected) as err:
        client.run_prompt(server, api, tmp_path, timeout=120)
    assert "positive" in str(err.value) and "Required input is missing" in str(err.value)
    assert requests.get(f"{server}/system_stats", timeout=10).ok


@pytest.mark.parametrize("index, shown", [(-1, "-1"), (7, "7"), ("0", "'0'")])
def test_a_link_to_an_output_that_does_not_exist_is_refused_by_name(server, object_info, tmp_path, index, shown):
    """ComfyUI indexes a link's output like a Python list (-1 = the last output); into a RectiFlow node such a link
    is refused at /prompt naming the input, and the server then runs the quickstart."""
    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    api = convert.ui_to_api(workflow, object_info)
    to_image = next(n for n in api.values() if n["class_type"] == "RectiFlowDigitsLatentToImage")
    to_image["inputs"]["samples"][1] = index
    with pytest.raises(errors.PromptRejected) as err:
        client.run_prompt(server, api, tmp_path / "bad", timeout=120)
    assert (f"samples: the link names output {shown} of node " in str(err.value)
            and "expected an output index in that range" in str(err.value))
    assert run_ui_workflow(server, object_info, workflow, tmp_path / "after")


@pytest.mark.parametrize("value, message", [(float("nan"), "w_max: expected a finite number, got nan"),
                                            (1e9, "w_max: expected a value in"),
                                            ("huge", "w_max: expected a number")])
def test_bad_numbers_are_refused_at_prompt_time(server, object_info, value, message):
    workflow = json.loads((REPO / "workflows" / "guidance_raag_few_steps.json").read_text())
    prompt = convert.ui_to_api(workflow, object_info)
    node_id = next(k for k, n in prompt.items() if n["class_type"] == "RectiFlowGuiderRAAG")
    prompt[node_id]["inputs"]["w_max"] = value
    body = json.dumps({"prompt": prompt, "client_id": "validation"})   # NaN travels as the literal NaN
    answer = requests.post(f"{server}/prompt", data=body, headers={"Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 400, answer.text
    assert message in json.dumps(answer.json()["node_errors"][node_id])


def test_a_model_name_outside_the_model_folder_is_refused_at_prompt_time(server, object_info, tmp_path):
    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    set_widget(workflow, "RectiFlowDigitsModelLoader", 0, "/etc/passwd")
    with pytest.raises(errors.PromptRejected, match=r"model_name: '/etc/passwd' is not an option"):
        run_ui_workflow(server, object_info, workflow, tmp_path)
    assert requests.get(f"{server}/system_stats", timeout=10).ok
