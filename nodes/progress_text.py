"""Text shown on a running node: ComfyUI's progress text (under the node in the editor, printed by rectiflow-run).
Long computations say their cost here before they start."""
from __future__ import annotations

import sys

from comfy_api.latest import io


def prompt_server():
    """The running ComfyUI PromptServer, or None in process (read from sys.modules; `server` is never imported)."""
    return getattr(getattr(sys.modules.get("server"), "PromptServer", None), "instance", None)


def show_progress_text(node_cls: type[io.ComfyNode], text: str) -> None:
    """Send `text` to the node's progress text; nothing when no server runs (in-process use) or the node's
    schema does not request its unique_id (io.Hidden.unique_id)."""
    instance = prompt_server()
    unique_id = getattr(getattr(node_cls, "hidden", None), "unique_id", None)
    if instance is not None and unique_id is not None:
        instance.send_progress_text(text, unique_id)
