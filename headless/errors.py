"""The runner's errors. Each prints as one clear line (PromptRejected adds one line per node error)."""
from __future__ import annotations

import signal
import sys
from typing import Any


def shown(value: Any, limit: int = 120) -> str:
    """A file-given value for an error message: as is when plain printable ASCII, else ascii() (so a
    lone surrogate or a control character can never break the terminal or a log)."""
    text = str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if text is None or not (text.isascii() and text.isprintable()):
        text = ascii(value)
    return text if len(text) <= limit else text[:limit] + "..."


def report_error(prog: str, message: str) -> None:
    """One error line on stderr as `prog: message`, never failing on characters the terminal cannot encode."""
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr.write(f"{prog}: {message}\n".encode(encoding, "backslashreplace").decode(encoding))
    sys.stderr.flush()


class ConversionError(ValueError):
    """The UI workflow cannot be turned into an API prompt."""


class UsageError(RuntimeError):
    """A command-line value cannot be used (an output folder that cannot be created...)."""


class ServerError(RuntimeError):
    """The ComfyUI server could not be started, did not answer, or answered something unusable."""


class RequestTimedOut(ServerError):
    """A request got no answer within the request timeout."""

    def __init__(self, url: str, timeout: float):
        self.url = url
        self.timeout = timeout
        super().__init__(f"no answer from {url} within {timeout:g} s "
                         f"(--request-timeout; is the server overloaded or not a ComfyUI server?)")


class UnsafeOutputPath(ServerError):
    """The server named an output file that would land outside the output folder."""


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


class Stopped(KeyboardInterrupt):
    """The runner received SIGINT or SIGTERM. A KeyboardInterrupt, so no `except Exception` swallows it."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def format_rejection(error: Any, node_errors: Any) -> str:
    """The server's validation error and per-node errors as readable lines (tolerates odd shapes)."""
    if isinstance(error, dict):
        head = error.get("message", "prompt rejected")
        details = error.get("details")
        head = f"{head}: {details}" if details else head
    else:
        head = str(error)
    lines = [f"prompt rejected: {head}"]
    for node_id, entry in (node_errors.items() if isinstance(node_errors, dict) else ()):
        entry = entry if isinstance(entry, dict) else {}
        for err in entry.get("errors") or []:
            err = err if isinstance(err, dict) else {"message": err}
            detail = f" ({err['details']})" if err.get("details") else ""
            lines.append(f"  node {node_id} ({entry.get('class_type', '?')}): {err.get('message')}{detail}")
    return "\n".join(lines)
