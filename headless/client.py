"""Talk to a ComfyUI server over HTTP and its /ws websocket: queue a prompt, follow it, fetch its outputs.

Every request has a bounded timeout (connect and read, `request_timeout` seconds) and every answer is
treated as untrusted: wrong shapes raise ServerError naming the URL, output paths go through outputs.py.
"""
from __future__ import annotations

import json
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any, TextIO

import requests
import urllib3
import websocket

from .errors import (PromptRejected, RequestTimedOut, ServerError, WorkflowError, WorkflowInterrupted,
                     shown)
from .outputs import create_new_file, output_files, output_target

DEFAULT_REQUEST_TIMEOUT = 60.0
CANCEL_TIMEOUT = 2.0
HISTORY_WAIT = 10.0


def _reason(exc: Exception) -> str:
    """The useful tail of a requests connection error ('[Errno 111] Connection refused')."""
    match = re.search(r"\[Errno -?\d+\] [^'\")]+", str(exc))
    return match.group(0).strip() if match else str(exc)


def _is_read_timeout(exc: requests.ConnectionError) -> bool:
    return any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in exc.args)


def http(method: str, url: str, timeout: float, **kwargs: Any) -> requests.Response:
    """One request with a bounded connect and read timeout; failures become one-line ServerErrors."""
    try:
        response = requests.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise RequestTimedOut(url, timeout) from None
    except requests.ConnectionError as exc:
        if _is_read_timeout(exc):
            raise RequestTimedOut(url, timeout) from None
        raise ServerError(f"cannot reach {url}: {_reason(exc)}") from None
    except requests.RequestException as exc:
        raise ServerError(f"request to {url} failed: {exc}") from None
    return response


def _check_ok(response: requests.Response, url: str) -> None:
    if not response.ok:
        raise ServerError(f"{url} answered HTTP {response.status_code}: {ascii(response.text[:200])}")


def _json(response: requests.Response, url: str) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ServerError(f"{url} did not answer JSON (HTTP {response.status_code}, "
                          f"{ascii(response.headers.get('Content-Type', 'no content type'))})") from None


def get_json(url: str, timeout: float, **kwargs: Any) -> Any:
    response = http("GET", url, timeout, **kwargs)
    _check_ok(response, url)
    return _json(response, url)


def fetch_object_info(base_url: str, request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> dict:
    url = f"{base_url}/object_info"
    info = get_json(url, request_timeout)
    if not isinstance(info, dict):
        raise ServerError(f"{url} did not answer a JSON object")
    return info


def queue_prompt(base_url: str, api_prompt: dict, client_id: str, extra_data: dict | None = None,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> str:
    url = f"{base_url}/prompt"
    body: dict[str, Any] = {"prompt": api_prompt, "client_id": client_id}
    if extra_data:
        body["extra_data"] = extra_data
    response = http("POST", url, request_timeout, json=body)
    if response.status_code == 400:
        try:
            answer = response.json()
        except ValueError:
            answer = {"error": response.text[:500]}
        answer = answer if isinstance(answer, dict) else {"error": answer}
        raise PromptRejected(answer.get("error"), answer.get("node_errors") or {})
    _check_ok(response, url)
    answer = _json(response, url)
    prompt_id = answer.get("prompt_id") if isinstance(answer, dict) else None
    if not isinstance(prompt_id, str) or not prompt_id:
        raise ServerError(f"{url} accepted the prompt but answered no prompt_id: {ascii(answer)[:200]}")
    return prompt_id


def cancel_prompt(base_url: str, prompt_id: str, timeout: float = CANCEL_TIMEOUT) -> bool:
    """Best effort, bounded: drop the prompt from the queue and interrupt it if it runs.
    True when the server accepted the interrupt; a server that does not answer is given up on."""
    accepted = False
    for path, body in (("/queue", {"delete": [prompt_id]}), ("/interrupt", {"prompt_id": prompt_id})):
        try:
            accepted = requests.post(f"{base_url}{path}", json=body, timeout=timeout).ok
        except requests.Timeout:
            return False
        except requests.RequestException:
            accepted = False
    return accepted


class ProgressPrinter:
    """Compact progress lines; overwritten in place on a terminal, throttled otherwise."""

    def __init__(self, node_types: dict[str, str], stream: TextIO | None = None):
        self.node_types = node_types
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.open_line = False
        self.last_decile: dict[str, int] = {}

    def label(self, node_id: Any) -> str:
        return f"[node {shown(node_id)} {shown(self.node_types.get(str(node_id), '?'))}]"

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


def connect_websocket(base_url: str, client_id: str, timeout: float) -> websocket.WebSocket:
    url = websocket_url(base_url, client_id)
    try:
        return websocket.create_connection(url, timeout=timeout)
    except (websocket.WebSocketTimeoutException, TimeoutError):
        raise RequestTimedOut(url, timeout) from None
    except (websocket.WebSocketException, OSError) as exc:
        raise ServerError(f"cannot open the websocket {url}: {exc}") from None


def receive_json(ws: websocket.WebSocket, deadline: float) -> dict | None:
    """The next text message as a JSON object; None for binary frames (previews), other JSON values
    and short read timeouts."""
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
    if not isinstance(message, str):
        return progress_text(message)
    try:
        decoded = json.loads(message)
    except ValueError:
        raise ServerError(f"the server sent a websocket message that is not JSON: {ascii(message[:120])}") from None
    return decoded if isinstance(decoded, dict) else None


BINARY_TEXT = 3    # ComfyUI's BinaryEventTypes.TEXT: a node's progress text (send_progress_text)


def progress_text(frame: bytes) -> dict | None:
    """A binary frame as {"type": "progress_text", "data": {"node", "text"}}; None for previews and malformed
    frames. Layout: event type and node-id length as big-endian uint32, the node id, then UTF-8 text."""
    if len(frame) < 8 or int.from_bytes(frame[:4], "big") != BINARY_TEXT:
        return None
    length = int.from_bytes(frame[4:8], "big")
    if len(frame) < 8 + length:
        return None
    node = frame[8:8 + length].decode("utf-8", "replace")
    return {"type": "progress_text", "data": {"node": node, "text": frame[8 + length:].decode("utf-8", "replace")}}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def follow_execution(ws: websocket.WebSocket, prompt_id: str, deadline: float,
                     printer: ProgressPrinter) -> None:
    """Print progress until our prompt finishes; raise on error, interruption or timeout."""
    while True:
        message = receive_json(ws, deadline)
        if message is None:
            continue
        kind, data = message.get("type"), message.get("data")
        data = data if isinstance(data, dict) else {}
        if data.get("prompt_id") not in (None, prompt_id):
            continue
        if kind == "progress":
            printer.step(str(data.get("node")), _int(data.get("value")), _int(data.get("max")))
        elif kind == "progress_text":
            for line in data["text"].splitlines()[:20]:
                printer.line(f"{printer.label(data['node'])} {shown(line, limit=400)}")
        elif kind == "executing" and data.get("prompt_id") == prompt_id:
            if data.get("node") is None:
                return
            printer.line(f"{printer.label(data['node'])} running")
        elif kind == "execution_cached" and isinstance(data.get("nodes"), list) and data["nodes"]:
            printer.line(f"[cached] nodes {', '.join(map(str, data['nodes']))}")
        elif kind == "execution_success":
            return
        elif kind == "execution_error":
            raise WorkflowError(str(data.get("node_id")), str(data.get("node_type", "?")),
                                str(data.get("exception_message") or "").strip())
        elif kind == "execution_interrupted":
            raise WorkflowInterrupted(str(data.get("node_id")), str(data.get("node_type", "?")),
                                      "execution was interrupted")


def fetch_history(base_url: str, prompt_id: str, request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                  wait: float = HISTORY_WAIT) -> dict:
    """The prompt's history entry; polled briefly, it is stored just after execution_success."""
    url = f"{base_url}/history/{prompt_id}"
    deadline = time.monotonic() + wait
    while True:
        answer = get_json(url, request_timeout)
        entry = answer.get(prompt_id) if isinstance(answer, dict) else None
        if isinstance(entry, dict):
            return entry
        if time.monotonic() > deadline:
            raise ServerError(f"prompt {prompt_id} finished but {url} has no entry for it")
        time.sleep(0.25)


def download_file(base_url: str, record: dict, target: Path,
                  request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> Path:
    """Fetch one output file from /view into target, or a free name next to it; returns where it went."""
    url = f"{base_url}/view"
    params = {"filename": record["filename"], "subfolder": record.get("subfolder") or "",
              "type": record.get("type") if isinstance(record.get("type"), str) else "output"}
    response = http("GET", url, request_timeout, params=params)
    _check_ok(response, url)
    path, stream = create_new_file(target)
    with stream:
        stream.write(response.content)
    return path


def save_outputs(base_url: str, prompt_id: str, out_dir: Path,
                 request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> list[Path]:
    """Download every output file the prompt's history names into out_dir.

    The history is untrusted: every record is checked (outputs.output_target) before anything is
    downloaded, and existing files are never overwritten (outputs.create_new_file).
    """
    records = list(output_files(fetch_history(base_url, prompt_id, request_timeout)))
    targets = [output_target(out_dir, record) for record in records]
    return [download_file(base_url, record, target, request_timeout) for record, target in zip(records, targets)]


def run_prompt(base_url: str, api_prompt: dict, out_dir: str | Path, timeout: float,
               extra_data: dict | None = None, request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
               stream: TextIO | None = None) -> list[Path]:
    """Queue an API prompt, follow it to the end and save its output files into out_dir.

    On a timeout, SIGINT or SIGTERM (KeyboardInterrupt) the prompt is removed from the queue and
    interrupted on the server (bounded, best effort) before the exception propagates.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    client_id = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    node_types = {str(k): str(v.get("class_type", "?")) for k, v in api_prompt.items() if isinstance(v, dict)}
    printer = ProgressPrinter(node_types, stream)
    ws = connect_websocket(base_url, client_id, request_timeout)
    try:
        prompt_id = queue_prompt(base_url, api_prompt, client_id, extra_data, request_timeout)
        printer.line(f"queued prompt {prompt_id}")
        try:
            follow_execution(ws, prompt_id, deadline, printer)
        except (TimeoutError, KeyboardInterrupt) as exc:
            printer.finish()
            cancelled = cancel_prompt(base_url, prompt_id)
            printer.line(f"{'interrupted' if cancelled else 'could not interrupt'} prompt {prompt_id} on the server")
            if isinstance(exc, TimeoutError):
                raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:g} s (--timeout)") from None
            raise
        finally:
            printer.finish()
    finally:
        ws.close(timeout=1)
    return save_outputs(base_url, prompt_id, out_dir, request_timeout)
