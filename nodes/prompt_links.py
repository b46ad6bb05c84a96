"""Links into RectiFlow nodes that name no node of the prompt, or no output of their source node.

ComfyUI reads a link [node_id, output_index] by Python indexing, so output -1 is silently the last output, an
index past the end fails with an internal error and a missing node with a raw KeyError. An on-prompt handler
(ComfyUI's PromptServer hook, run on every POST /prompt before validation) replaces such a link into a RectiFlow
node by a marker that the node's validate_inputs reports, naming the input: the prompt is refused with a clear
error and nothing runs.
"""
from __future__ import annotations

import sys
from typing import Any

from .errors import quoted
from .progress_text import prompt_server

LINK_PROBLEM = "rectiflow_link_problem"   # marker key; validation.input_problem reports its message


def output_count(source: dict) -> int | None:
    """Outputs of a prompt node, or None when its class is unknown (ComfyUI reports that itself)."""
    class_type = source.get("class_type")
    node_class = sys.modules["nodes"].NODE_CLASS_MAPPINGS.get(class_type) if isinstance(class_type, str) else None
    return None if node_class is None else len(node_class.RETURN_TYPES)


def link_problem(prompt: dict, link: list) -> str | None:
    node_id, index = link
    plain_id = isinstance(node_id, (str, int)) and not isinstance(node_id, bool)
    source = prompt.get(str(node_id)) if plain_id else None
    if not isinstance(source, dict):
        return f"the link names node {quoted(node_id)}, which is not in the prompt; expected the id of a node there"
    count = output_count(source)
    if count is None:
        return None
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
        return (f"the link names output {quoted(index)} of node {quoted(node_id)}, which has outputs 0.."
                f"{count - 1}; expected an output index in that range")
    return None


def mark_bad_links(json_data: Any) -> Any:
    """On-prompt handler: mark links into RectiFlow nodes whose output index is out of range (never raises)."""
    prompt = json_data.get("prompt") if isinstance(json_data, dict) else None
    if not isinstance(prompt, dict):
        return json_data
    for node in prompt.values():
        if not (isinstance(node, dict) and str(node.get("class_type", "")).startswith("RectiFlow")
                and isinstance(node.get("inputs"), dict)):
            continue
        for name, value in node["inputs"].items():
            if isinstance(value, list) and len(value) == 2:
                problem = link_problem(prompt, value)
                if problem:
                    node["inputs"][name] = {LINK_PROBLEM: f"{name}: {problem}"}
    return json_data


def register_link_check() -> None:
    """Install mark_bad_links on the running server (once); nothing when ComfyUI runs without a server."""
    instance = prompt_server()
    if instance is not None and mark_bad_links not in instance.on_prompt_handlers:
        instance.add_on_prompt_handler(mark_bad_links)
