"""The example workflows open readable in the editor: no overlapping nodes, clear of the top bar and sidebar,
with a template thumbnail and a templates-dialog label."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / "workflows").glob("*.json"))
TITLE_HEIGHT = 30  # LiteGraph draws a node's title bar above its pos
# The editor (comfyui-frontend-package 1.32) draws its tabs, menu and breadcrumb over the canvas down to about
# y = 130 px and its sidebar up to x = 60 px; a node's title must start below and right of them.
MIN_SCREEN_X = 100
MIN_SCREEN_Y = 150


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def rectangle(node: dict) -> tuple[float, float, float, float]:
    """x, y, width, height on the canvas, title bar included."""
    (x, y), (width, height) = node["pos"], node["size"]
    return x, y - TITLE_HEIGHT, width, height + TITLE_HEIGHT


def overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_there_are_workflows():
    assert len(WORKFLOWS) >= 4


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_no_two_nodes_overlap(path):
    nodes = load(path)["nodes"]
    clashes = [(a["type"], b["type"]) for a, b in itertools.combinations(nodes, 2)
               if overlap(rectangle(a), rectangle(b))]
    assert not clashes, f"{path.name}: overlapping nodes {clashes}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_view_keeps_every_node_clear_of_the_editor_chrome(path):
    workflow = load(path)
    view = workflow["extra"]["ds"]
    scale, (dx, dy) = view["scale"], view["offset"]
    left = min(rectangle(n)[0] for n in workflow["nodes"])
    top = min(rectangle(n)[1] for n in workflow["nodes"])
    assert (left + dx) * scale >= MIN_SCREEN_X, f"{path.name}: leftmost node at screen x {(left + dx) * scale}"
    assert (top + dy) * scale >= MIN_SCREEN_Y, f"{path.name}: topmost title at screen y {(top + dy) * scale}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_nodes_are_big_enough_for_their_widgets(path):
    for node in load(path)["nodes"]:
        width, height = node["size"]
        rows = max(len(node["inputs"]), len(node["outputs"]))
        assert width >= 300, f"{path.name}: {node['type']} is {width} px wide"
        assert height >= 20 * rows + 24 * len(node["widgets_values"]), f"{path.name}: {node['type']} too short"


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
def test_every_workflow_has_a_jpeg_thumbnail_the_templates_dialog_requests(path):
    thumbnail = path.with_suffix(".jpg")  # the frontend asks for /api/workflow_templates/<pack>/<name>.jpg
    assert thumbnail.is_file(), f"{thumbnail.name} missing: run scripts/make_thumbnails.py"
    with Image.open(thumbnail) as image:
        assert image.format == "JPEG"
        assert 128 <= max(image.size) <= 512, image.size


def test_the_templates_dialog_names_the_pack():
    messages = json.loads((REPO / "locales" / "en" / "main.json").read_text())
    assert messages["templateWorkflows"]["category"]["rectiflow"] == "RectiFlow"
