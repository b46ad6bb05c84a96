"""Driving the real ComfyUI frontend (comfyui-frontend-package) in Debian's chromium through playwright.

The helpers read the frontend's own state (window.app, LiteGraph) and click its real controls; selectors were
read from comfyui-frontend-package 1.32's DOM.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from rectiflow.testing.comfy_host import REPO, comfyui_path

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
APP_READY_MS = 180_000
MODEL_FILE = re.compile(r"\.(safetensors|ckpt|pt|pth|bin|gguf)$", re.IGNORECASE)


def find_chromium() -> str | None:
    """RECTIFLOW_CHROMIUM, else Debian's chromium on PATH or in /usr/bin (scripts/setup.sh installs it)."""
    candidates = [os.environ.get("RECTIFLOW_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def pack_folder_name() -> str:
    """The custom_nodes entry that is this checkout: ComfyUI names the pack's module and templates after it."""
    for entry in (comfyui_path() / "custom_nodes").iterdir():
        if entry.resolve() == REPO.resolve():
            return entry.name
    raise RuntimeError(f"no custom_nodes entry of {comfyui_path()} points at {REPO}; run scripts/setup.sh")


def pack_nodes(object_info: dict[str, Any]) -> dict[str, Any]:
    """/object_info's entries that this pack registers, by node id."""
    module = f"custom_nodes.{pack_folder_name()}"
    return {name: info for name, info in object_info.items() if info.get("python_module") == module}


def wait_for_app(page: Page) -> None:
    page.wait_for_function("window.app && window.app.graph && window.LiteGraph", timeout=APP_READY_MS)


def registered_pack_types(page: Page, module: str) -> dict[str, dict[str, str]]:
    """The node types LiteGraph knows whose definition came from `module`, with their title and category."""
    return page.evaluate("""module => Object.fromEntries(Object.entries(LiteGraph.registered_node_types)
        .filter(([, cls]) => cls.nodeData && cls.nodeData.python_module === module)
        .map(([type, cls]) => [type, {title: cls.title, category: cls.category}]))""", module)


def close_dialogs(page: Page) -> None:
    """Close every open dialog through the frontend's dialog store (the templates dialog ignores Escape), and
    the node search box."""
    page.evaluate("""() => {
        const dialogs = document.querySelector('#vue-app').__vue_app__.config.globalProperties.$pinia._s.get('dialog');
        while (dialogs.dialogStack.length) dialogs.closeDialog(dialogs.dialogStack[dialogs.dialogStack.length - 1]);
    }""")
    if page.locator(".comfy-vue-node-search-box:visible").count():
        page.keyboard.press("Escape")
    page.locator(".p-dialog-mask").wait_for(state="detached", timeout=10_000)


def visible_dialog_texts(page: Page) -> list[str]:
    return [text.strip()[:300] for text in page.locator(".p-dialog:visible").all_inner_texts()]


def open_pack_templates(page: Page) -> None:
    """Open the templates dialog from the sidebar and pick the pack's entry under Extensions."""
    pack_entry = page.get_by_role("button", name="RectiFlow", exact=True)
    if not pack_entry.is_visible():
        page.locator("button.templates-tab-button").click()
    pack_entry.click()
    page.locator("[data-testid^='template-workflow-']").first.wait_for()


def template_cards(page: Page) -> dict[str, list[dict[str, Any]]]:
    """Each card's thumbnails, read while the card is scrolled into view: the dialog renders a card's images
    only near the viewport (and may drop them again when scrolled away)."""
    return page.evaluate("""async () => {
        const seen = {};
        for (const card of document.querySelectorAll('[data-testid^="template-workflow-"]')) {
            card.scrollIntoView({block: 'center'});
            for (let tries = 0; tries < 50; tries++) {
                const img = card.querySelector('img');
                if (img && img.complete) break;
                await new Promise(done => setTimeout(done, 100));
            }
            seen[card.dataset.testid.slice('template-workflow-'.length)] = Array.from(card.querySelectorAll('img'))
                .map(img => ({complete: img.complete, width: img.naturalWidth}));
        }
        return seen;
    }""")


def load_workflow(page: Page, workflow: dict[str, Any]) -> None:
    """Load a workflow as a file drop would (missing-node and missing-model dialogs enabled)."""
    page.evaluate("async workflow => { await app.loadGraphData(workflow); }", workflow)
    page.wait_for_timeout(300)


def graph_problems(page: Page, workflow: dict[str, Any], host_model_files: bool) -> list[str]:
    """What the frontend made of a loaded workflow that a user would see as broken: node types it does not
    know, nodes flagged with errors, combo values outside their list, numbers outside their range, and widget
    values that differ from the file's (a shifted or clamped value). Model-file choices count only when
    `host_model_files` (the digits workflows use files the pack ships)."""
    found = page.evaluate("""() => app.graph.nodes.map(node => ({
        id: node.id, type: node.type, known: node.type in LiteGraph.registered_node_types,
        has_errors: !!node.has_errors,
        widgets: (node.widgets || []).map(w => ({name: w.name, type: w.type, value: w.value,
            values: Array.isArray(w.options && w.options.values) ? w.options.values : null,
            min: w.options ? w.options.min : undefined, max: w.options ? w.options.max : undefined})),
        saved: node.serialize().widgets_values ?? null}))""")
    in_file = {node["id"]: node.get("widgets_values") for node in workflow["nodes"]}
    problems: list[str] = []
    for node in found:
        where = f"node {node['id']} ({node['type']})"
        if not node["known"]:
            problems.append(f"{where}: type unknown to the frontend")
        if node["has_errors"]:
            problems.append(f"{where}: flagged with errors")
        problems += [f"{where} widget {w['name']}: {msg}" for w in node["widgets"]
                     if (msg := widget_problem(w, host_model_files))]
        if in_file.get(node["id"]) is not None and node["saved"] != in_file[node["id"]]:
            problems.append(f"{where}: widget values {json.dumps(node['saved'])} after loading, "
                            f"{json.dumps(in_file[node['id']])} in the file")
    return problems


def widget_problem(widget: dict[str, Any], host_model_files: bool) -> str | None:
    value = widget["value"]
    if widget["values"] is not None and value not in widget["values"]:
        model_file = not widget["values"] or (isinstance(value, str) and MODEL_FILE.search(value))
        if model_file and not host_model_files:
            return None  # a file the workflow's notes tell users to download; an empty list is a model folder
        return f"{value!r} is not one of its {len(widget['values'])} choices"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = widget.get("min"), widget.get("max")
        if (low is not None and value < low) or (high is not None and value > high):
            return f"{value!r} outside [{low}, {high}]"
    return None


def fit_view(page: Page) -> None:
    """Fit the whole graph into the canvas (the frontend's 'Fit view' command, key '.'), so every node is drawn."""
    page.evaluate("async () => { await app.extensionManager.command.execute('Comfy.Canvas.FitView'); }")
    page.wait_for_timeout(500)


def widget_point(page: Page, node_id: int, widget_name: str) -> dict[str, float] | None:
    """The page coordinates of a widget's row (None when it is not on screen)."""
    return page.evaluate("""([id, name]) => {
        const node = app.graph.getNodeById(id);
        const widget = node && (node.widgets || []).find(w => w.name === name);
        if (!widget || widget.y === undefined) return null;
        const rect = app.canvas.canvas.getBoundingClientRect(), ds = app.canvas.ds;
        const h = widget.computedHeight || LiteGraph.NODE_WIDGET_HEIGHT;
        const gx = node.pos[0] + node.size[0] * 0.3, gy = node.pos[1] + widget.y + h / 2;
        const x = rect.left + (gx + ds.offset[0]) * ds.scale, y = rect.top + (gy + ds.offset[1]) * ds.scale;
        return x > rect.left && y > rect.top && x < rect.right && y < rect.bottom ? {x, y} : null;
    }""", [node_id, widget_name])


def set_widget(page: Page, node_type: str, widget_name: str, value: Any) -> None:
    page.evaluate("""([type, name, value]) => {
        const node = app.graph.nodes.find(n => n.type === type);
        const widget = node.widgets.find(w => w.name === name);
        widget.value = value;
        if (widget.callback) widget.callback(value, app.canvas, node);
    }""", [node_type, widget_name, value])


def record_progress_texts(page: Page) -> None:
    """Start recording every 'Current node: <name> <n>%' text the queue progress panel shows."""
    page.evaluate("""() => {
        window.__rectiflowProgress = [];
        const seen = window.__rectiflowProgress;
        new MutationObserver(() => {
            const match = document.body.innerText.match(/Current node:\\s*(\\S+)\\s*(\\d+)%/);
            if (match && seen[seen.length - 1] !== match[1] + ' ' + match[2]) seen.push(match[1] + ' ' + match[2]);
        }).observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")


def progress_texts(page: Page) -> list[str]:
    return page.evaluate("() => window.__rectiflowProgress || []")
