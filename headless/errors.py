"""The runner's errors."""
from __future__ import annotations

from typing import Any


class ConversionError(ValueError):
    """The UI workflow cannot be turned into an API prompt."""


class ServerError(RuntimeError):
    """The ComfyUI server could not be started or stopped answering."""


class PromptRejected(RuntimeError):
    """The server refused the prompt (HTTP 400, validation failed)."""

    def __init__(self, error: Any, node_errors: dict):
        self.error = error
        self.node_errors = node_errors
        super().__init__(format_rejection(error, node_errors))


class WorkflowError(RuntimeError):
    """A node raised while the prompt executed."""

    def __init__(self, node_id: str, node_type: str, message: str):
        self.node_id = node_id
        self.node_type = node_type
        self.message = message
        super().__init__(f"error in node {node_id} ({node_type}): {message}")


class WorkflowInterrupted(WorkflowError):
    """Execution was interrupted (by a user or another client)."""


class UnsafeOutputPath(ServerError):
    """The server named an output file that would land outside the output folder."""


def format_rejection(error: Any, node_errors: dict) -> str:
    """The server's validation error and per-node errors as readable lines."""
    if isinstance(error, dict):
        head = error.get("message", "prompt rejected")
        details = error.get("details")
        head = f"{head}: {details}" if details else head
    else:
        head = str(error)
    lines = [f"prompt rejected: {head}"]
    for node_id, entry in (node_errors or {}).items():
        for err in entry.get("errors", []):
            detail = f" ({err['details']})" if err.get("details") else ""
            lines.append(f"  node {node_id} ({entry.get('class_type', '?')}): {err.get('message')}{detail}")
    return "\n".join(lines)
