"""A real ComfyUI server lists the example workflows as templates and serves the files the editor asks for."""
from __future__ import annotations

import pytest
import requests

from rectiflow.testing.comfy_host import REPO, comfyui_path

pytestmark = pytest.mark.server

WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))


def pack_folder_name() -> str:
    """The custom_nodes entry that is this checkout: ComfyUI names the pack's templates after it."""
    for entry in (comfyui_path() / "custom_nodes").iterdir():
        if entry.resolve() == REPO.resolve():
            return entry.name
    raise RuntimeError(f"no custom_nodes entry of {comfyui_path()} points at {REPO}; run scripts/setup.sh")


def test_workflow_templates_lists_every_workflow_under_the_pack(server):
    listed = requests.get(f"{server}/workflow_templates", timeout=60).json()
    assert sorted(listed.get(pack_folder_name(), [])) == [p.stem for p in WORKFLOWS]


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_template_and_thumbnail_urls_the_editor_requests_are_served(server, path):
    base = f"{server}/api/workflow_templates/{pack_folder_name()}/{path.stem}"
    workflow = requests.get(f"{base}.json", timeout=60)
    assert workflow.status_code == 200 and workflow.json()["nodes"]
    thumbnail = requests.get(f"{base}.jpg", timeout=60)  # comfyui-frontend-package 1.32: `${name}.jpg`
    assert thumbnail.status_code == 200
    assert thumbnail.headers["Content-Type"].startswith("image/jpeg")
    assert thumbnail.content[:3] == b"\xff\xd8\xff"


def test_i18n_names_the_pack_in_the_templates_dialog(server):
    messages = requests.get(f"{server}/i18n", timeout=60).json()
    assert messages["en"]["templateWorkflows"]["category"][pack_folder_name()] == "RectiFlow"
