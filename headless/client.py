"""Talk to a ComfyUI server over HTTP and its /ws websocket: queue a prompt, follow it, fetch its outputs."""
from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

import requests
import websocket

from .errors import PromptRejected, ServerError, WorkflowError, WorkflowInterrupted
from .outputs import create_new_file, output_files, output_target


def queue_prompt(base_url: str, api_prompt: dict, client_id: str, extra_data: dict | None = None) -> str:
    body: dict[str, Any] = {"prompt": api_prompt, "client_id": client_id}
    if extra_data:
        body["extra_data"] = extra_data
    response = requests.post(f"{base_url}/prompt", json=body, timeout=60)
    if response.status_code == 400:
        try:
            answer = response.json()
        except ValueError:
            answer = {"error": response.text}
        raise PromptRejected(answer.get("error"), answer.get("node_errors") or {})
    response.raise_for_status()
    return response.json()["prompt_id"]


def cancel_prompt(base_url: str, prompt_id: str) -> None:
    """Best effort: drop the prompt from the queue and interrupt it if it runs."""
    for path, body in (("/queue", {"delete": [prompt_id]}), ("/interrupt", {"prompt_id": prompt_id})):
        try:
            requests.post(f"{base_url}{path}", json=body, timeout=5)
        except requests.RequestException:
            pass


class ProgressPrinter:
    """Compact progress lines; overwritten in place on a terminal, throttled otherwise."""

    def __init__(self, node_types: dict[str, str], stream: TextIO | None = None):
        self.node_types = node_types
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.open_line = False
        self.last_decile: dict[str, int] = {}

    def label(self, node_id: str) -> str:
        return f"[node {node_id} {self.node_types.get(str(node_id), '?')}]"

    def line(self, text: str) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def step(self, node_id: str, value: int, total: int) -> None:
        text = f"{self.label(node_id)} step {value}/{total}"
        if self.tty:
            self.stream.write("\r" + text)
            self.stream.flush()
            self.open_line = True
            return
        decile = int(10 * value / total) if total else 10
        if decile != self.last_decile.get(node_id) or value == total:
            self.last_decile[node_id] = decile
            self.line(text)

    def finish(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def websocket_url(base_url: str, client_id: str) -> str:
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/ws?clientId={client_id}"


def receive_json(ws: websocket.WebSocket, deadline: float) -> dict | None:
    """The next text message as JSON; None for binary frames (previews) and short read timeouts."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out waiting for the prompt to finish")
    ws.settimeout(min(remaining, 5.0))
    try:
        message = ws.recv()
    except websocket.WebSocketTimeoutException:
        return None
    except (websocket.WebSocketConnectionClosedException, OSError) as exc:
        raise ServerError(f"lost the websocket connection to the server: {exc}") from exc
    return json.loads(message) if isinstance(message, str) else None


def follow_execution(ws: websocket.WebSocket, prompt_id: str, deadline: float,
                     printer: ProgressPrinter) -> None:
    """Print progress until our prompt finishes; raise on error, interruption or timeout."""
    while True:
        message = receive_json(ws, deadline)
        if message is None:
            continue
        kind, data = message.get("type"), message.get("data") or {}
        if data.get("prompt_id") not in (None, prompt_id):
            continue
        if kind == "progress":
            printer.step(str(data.get("node")), data.get("value", 0), data.get("max", 0))
        elif kind == "executing" and data.get("prompt_id") == prompt_id:
            if data.get("node") is None:
                return
            printer.line(f"{printer.label(data['node'])} running")
        elif kind == "execution_cached" and data.get("nodes"):
            printer.line(f"[cached] nodes {', '.join(map(str, data['nodes']))}")
        elif kind == "execution_success":
            return
        elif kind == "execution_error":
            raise WorkflowError(str(data.get("node_id")), data.get("node_type", "?"),
                                (data.get("exception_message") or "").strip())
        elif kind == "execution_interrupted":
            raise WorkflowInterrupted(str(data.get("node_id")), data.get("node_type", "?"),
                                      "execution was interrupted")


def fetch_history(base_url: str, prompt_id: str, wait: float = 10.0) -> dict:
    """The prompt's history entry; polled briefly, it is stored just after execution_success."""
    deadline = time.monotonic() + wait
    while True:
        response = requests.get(f"{base_url}/history/{prompt_id}", timeout=30)
        response.raise_for_status()
        answer = response.json()
        entry = answer.get(prompt_id) if isinstance(answer, dict) else None
        if entry is not None:
            return entry
        if time.monotonic() > deadline:
            raise ServerError(f"prompt {prompt_id} finished but has no history entry")
        time.sleep(0.25)


def download_file(base_url: str, record: dict, target: Path) -> Path:
    """Fetch one output file from /view into target (or a free name next to it); returns where it went."""
    params = {"filename": record["filename"], "subfolder": record.get("subfolder") or "",
              "type": record.get("type") or "output"}
    response = requests.get(f"{base_url}/view", params=params, timeout=120)
    response.raise_for_status()
    path, stream = create_new_file(target)
    with stream:
        stream.write(response.content)
    return path


def save_outputs(base_url: str, prompt_id: str, out_dir: Path) -> list[Path]:
    """Download every output file the prompt's history names into out_dir.

    The history is untrusted: every record is checked (output_target) before anything is written,
    and existing files are never overwritten (create_new_file).
    """
    records = list(output_files(fetch_history(base_url, prompt_id)))
    targets = [output_target(out_dir, record) for record in records]
    return [download_file(base_url, record, target) for record, target in zip(records, targets)]


def run_prompt(base_url: str, api_prompt: dict, out_dir: str | Path, timeout: float,
               extra_data: dict | None = None) -> list[Path]:
    """Queue an API prompt, follow it to the end and save its output files into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    client_id = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    node_types = {str(k): v.get("class_type", "?") for k, v in api_prompt.items()}
    printer = ProgressPrinter(node_types)
    ws = websocket.create_connection(websocket_url(base_url, client_id), timeout=30)
    try:
        prompt_id = queue_prompt(base_url, api_prompt, client_id, extra_data)
        try:
            follow_execution(ws, prompt_id, deadline, printer)
        except (TimeoutError, KeyboardInterrupt):
            cancel_prompt(base_url, prompt_id)
            raise
        finally:
            printer.finish()
    finally:
        ws.close()
    return save_outputs(base_url, prompt_id, out_dir)


def fetch_object_info(base_url: str) -> dict:
    response = requests.get(f"{base_url}/object_info", timeout=120)
    response.raise_for_status()
    return response.json()
