"""The workflows for downloaded checkpoints (workflows/real_models/) against a real server: every node type exists,
every RectiFlow option they set is one the server offers, and the headless UI -> API conversion succeeds.
They are not run (the test machines hold no InstaFlow / NoobAI weights)."""
from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from rectiflow.headless import convert
from rectiflow.testing.comfy_host import REPO

pytestmark = pytest.mark.server

WORKFLOWS = sorted((REPO / "workflows" / "real_models").glob("*.json"))
EXPECTED = {"instaflow_one_step", "two_rectified_flow_few_steps", "rf_conversion_noobai", "instaflow_delta_merge",
            "perflow_sd15_few_steps", "perflow_sd15_delta", "rectified_diffusion_two_steps"}
CHECKED_COMBOS = ("family", "preset", "base", "checkpoint", "sampling",   # RectiFlow options the workflows set
                  "solver", "blocks")


def load(path) -> dict:
    return json.loads(path.read_text())


def test_the_reflow_workflows_exist_and_match_their_builder():
    assert EXPECTED <= {p.stem for p in WORKFLOWS}
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location("build_workflows", REPO / "scripts" / "build_workflows.py")
        builder = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(builder)
    finally:
        sys.path.remove(str(REPO / "scripts"))
    for name, build in builder.REFLOW_WORKFLOWS.items():
        assert load(REPO / "workflows" / "real_models" / name) == json.loads(json.dumps(build(builder.Graph))), (
            f"{name} is stale: run python scripts/build_workflows.py")


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_every_node_type_exists_and_the_conversion_succeeds(object_info, path):
    workflow = load(path)
    types = {n["type"] for n in workflow["nodes"]} - convert.FRONTEND_ONLY_TYPES
    assert types <= set(object_info), f"{path.name}: unknown node types {types - set(object_info)}"
    api = convert.ui_to_api(workflow, object_info)
    assert len(api) == len([n for n in workflow["nodes"] if n["type"] not in convert.FRONTEND_ONLY_TYPES])
    for node in api.values():
        info = object_info[node["class_type"]]
        for name, spec in info["input"]["required"].items():
            assert name in node["inputs"], f"{path.name}: {node['class_type']}.{name} missing"
            options = spec[1].get("options") if spec[0] == "COMBO" and len(spec) > 1 else None
            if options and node["class_type"].startswith("RectiFlow") and name in CHECKED_COMBOS:
                assert node["inputs"][name] in options, f"{path.name}: {node['class_type']}.{name}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_each_workflow_says_where_its_checkpoints_come_from_and_their_licence(path):
    notes = [n["widgets_values"][0] for n in load(path)["nodes"] if n["type"] == "Note"]
    assert len(notes) == 1
    assert "huggingface.co/" in notes[0] and "icence" in notes[0]
