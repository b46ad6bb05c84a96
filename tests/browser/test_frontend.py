"""The real ComfyUI frontend, in chromium, against a real server: it registers the pack's nodes, finds them in
the node search, loads every workflow cleanly, lists the templates with thumbnails, shows input tooltips, and
runs the quickstart from its Run button with progress and the output image."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from .frontend_page import (fit_view, graph_problems, load_workflow, open_pack_templates, pack_folder_name,
                           pack_nodes, progress_texts, record_progress_texts, registered_pack_types,
                           set_widget, template_cards, visible_dialog_texts, widget_point)
from rectiflow.testing.comfy_host import REPO

pytestmark = [pytest.mark.server, pytest.mark.browser]

TEMPLATES = sorted((REPO / "workflows").glob("*.json"))
WORKFLOWS = TEMPLATES + sorted((REPO / "workflows").glob("*/*.json"))
QUICKSTART = REPO / "workflows" / "digits_quickstart.json"
QUICKSTART_STEPS = 4  # the quickstart's 32 steps take over a minute on a loaded two-core machine
RUN_TIMEOUT_MS = 240_000


def pack_error_pattern(object_info) -> re.Pattern[str]:
    """Console text that names the pack or one of its node ids."""
    names = ["rectiflow", *map(re.escape, pack_nodes(object_info))]
    return re.compile("|".join(names), re.IGNORECASE)


def test_frontend_registers_exactly_the_packs_nodes(frontend, page, object_info):
    ours = pack_nodes(object_info)
    registered = registered_pack_types(page, f"custom_nodes.{pack_folder_name()}")
    assert sorted(registered) == sorted(ours)
    assert {t: r["title"] for t, r in registered.items()} == {t: i["display_name"] for t, i in ours.items()}
    assert {t: r["category"] for t, r in registered.items()} == {t: i["category"] for t, i in ours.items()}
    assert frontend.errors_since(0, pack_error_pattern(object_info)) == []


def search_query(display_name: str) -> str:
    """What a user types: the display name's first three words. (Typed in full, three long display names find
    nothing in the frontend's fuzzy search, e.g. 'RectiFlow Load Rectified Diffusion UNet'.)"""
    return " ".join(display_name.split()[:3])


def test_node_search_finds_every_node_with_its_display_name_and_category(page, object_info):
    page.evaluate("() => { app.graph.clear(); app.canvas.setDirty(true, true); }")
    page.locator("#graph-canvas").dblclick(position={"x": 800, "y": 500})
    search = page.locator(".comfy-vue-node-search-box input")
    search.wait_for()
    shown = {}
    for node_id, info in sorted(pack_nodes(object_info).items()):
        search.fill(search_query(info["display_name"]))
        option = page.locator(f"li[role=option][aria-label={json.dumps(info['display_name'])}]").first
        try:
            option.wait_for(timeout=10_000)
            shown[node_id] = option.locator(".option-category").inner_text().strip()
        except PlaywrightTimeout:
            shown[node_id] = None
    page.keyboard.press("Escape")
    expected = {node_id: info["category"].replace("/", " > ") for node_id, info in pack_nodes(object_info).items()}
    assert shown == expected


@pytest.mark.parametrize("path", WORKFLOWS, ids=[str(p.relative_to(REPO / "workflows")) for p in WORKFLOWS])
def test_workflow_loads_without_missing_nodes_invalid_values_or_pack_errors(frontend, page, object_info, path):
    workflow = json.loads(path.read_text())
    start = len(frontend.console)
    load_workflow(page, workflow)
    dialogs = visible_dialog_texts(page)
    problems = graph_problems(page, workflow, host_model_files=path.parent.name == "workflows")
    assert dialogs == [], f"loading {path.name} opened a dialog"
    assert problems == []
    assert frontend.errors_since(start, pack_error_pattern(object_info)) == []


def test_templates_dialog_lists_every_workflow_with_its_thumbnail(page):
    open_pack_templates(page)
    cards = template_cards(page)
    assert sorted(cards) == [p.stem for p in TEMPLATES]
    for name, images in cards.items():
        assert images, f"template {name} shows no thumbnail"
        assert all(img["complete"] and img["width"] > 0 for img in images), (name, images)


def test_widget_tooltips_show_on_hover(page, object_info):
    workflow = json.loads(QUICKSTART.read_text())
    load_workflow(page, workflow)
    fit_view(page)
    ours = pack_nodes(object_info)
    hovered = {}
    for node in workflow["nodes"]:
        if node["type"] not in ours:
            continue
        inputs = {**ours[node["type"]]["input"].get("required", {}), **ours[node["type"]]["input"].get("optional", {})}
        for name, spec in inputs.items():
            point = widget_point(page, node["id"], name)
            if point is None or len(spec) < 2 or "tooltip" not in spec[1]:
                continue
            page.mouse.move(5, 500)
            page.mouse.move(point["x"], point["y"])
            tooltip = page.locator(".node-tooltip")
            try:
                tooltip.wait_for(state="visible", timeout=5_000)
                hovered[f"{node['type']}.{name}"] = (tooltip.inner_text().strip(), spec[1]["tooltip"].strip())
            except PlaywrightTimeout:
                hovered[f"{node['type']}.{name}"] = (None, spec[1]["tooltip"].strip())
    page.mouse.move(5, 500)
    assert len(hovered) >= 4, f"too few pack widgets on screen to hover: {sorted(hovered)}"
    assert {k: shown for k, (shown, _) in hovered.items()} == {k: want for k, (_, want) in hovered.items()}


def test_quickstart_runs_from_the_run_button_with_progress_and_its_image(frontend, page, object_info):
    start = len(frontend.console)
    open_pack_templates(page)
    page.get_by_test_id("template-workflow-digits_quickstart").click()
    page.wait_for_function("() => app.graph.nodes.some(n => n.type === 'SaveImage')", timeout=30_000)
    assert visible_dialog_texts(page) == []
    set_widget(page, "BasicScheduler", "steps", QUICKSTART_STEPS)
    fit_view(page)  # the canvas draws (and so loads) a node's image only when the node is on screen
    record_progress_texts(page)
    page.get_by_test_id("queue-button").click()
    page.wait_for_function("""() => { const node = app.graph.nodes.find(n => n.type === 'SaveImage');
        return node && node.imgs && node.imgs.length && node.imgs[0].complete && node.imgs[0].naturalWidth > 0; }""",
                           timeout=RUN_TIMEOUT_MS)
    image = page.evaluate("""() => { const node = app.graph.nodes.find(n => n.type === 'SaveImage');
        return {src: node.imgs[0].src, width: node.imgs[0].naturalWidth, height: node.imgs[0].naturalHeight,
                outputs: app.nodeOutputs[String(node.id)]}; }""")
    filename = image["outputs"]["images"][0]["filename"]
    assert filename.startswith("rectiflow_digits") and f"filename={filename}" in image["src"]
    assert image["width"] > 0 and image["height"] > 0
    sampler_progress = [t for t in progress_texts(page) if t.startswith("SamplerCustomAdvanced ")]
    assert any(not t.endswith(" 0") for t in sampler_progress), progress_texts(page)
    assert frontend.errors_since(start, pack_error_pattern(object_info)) == []
