#!/usr/bin/env python3
"""Run a ComfyUI workflow saved in the editor's UI format headless against a real ComfyUI server.

    run_workflow.py WORKFLOW.json [--server URL] [--out DIR] [--comfyui PATH] [--python PY]
                    [--timeout SECONDS] [--port N]

Without --server a server is started (`PY main.py --cpu --listen 127.0.0.1 --port N` in the ComfyUI
folder) and stopped at the end. The workflow is converted to the API format with the server's
/object_info, queued, followed over the websocket, and its output files are saved into --out.
Exit status: 0 on success, 1 on any failure.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path, PureWindowsPath
from typing import Any, BinaryIO, Iterator, NamedTuple, TextIO

import requests
import websocket

MUTED, BYPASSED = 2, 4
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL_VALUES = {"fixed", "randomize", "increment", "decrement"}
SEED_NAMES = {"seed", "noise_seed"}
FRONTEND_ONLY_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
SERVER_READY_TIMEOUT = 180.0
REPO_ROOT = Path(__file__).resolve().parents[1]


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


# ----------------------------------------------------------------------------------------------
# UI format -> API format
# ----------------------------------------------------------------------------------------------

class Link(NamedTuple):
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: str


class PrimitiveValue(NamedTuple):
    """A value supplied by a frontend-only PrimitiveNode instead of a real link."""
    value: Any


Source = tuple[str, int] | PrimitiveValue | None


def parse_links(workflow: dict) -> dict[int, Link]:
    """Links by id; both the list form [id, from, slot, to, slot, type] and the object form."""
    links: dict[int, Link] = {}
    for raw in workflow.get("links") or []:
        if isinstance(raw, dict):
            link_id, fields = raw["id"], (raw["origin_id"], raw["origin_slot"], raw["target_id"],
                                          raw["target_slot"], raw.get("type", "*"))
        else:
            link_id, fields = raw[0], tuple(raw[1:6])
        origin_id, origin_slot, target_id, target_slot, link_type = fields
        links[int(link_id)] = Link(str(origin_id), int(origin_slot), str(target_id),
                                   int(target_slot), link_type)
    return links


class UIGraph:
    """The nodes and links of a UI-format workflow, with source resolution through frontend-only nodes."""

    def __init__(self, workflow: dict):
        if not isinstance(workflow.get("nodes"), list):
            raise ConversionError("not a UI-format workflow: no 'nodes' list")
        self.nodes = {str(node["id"]): node for node in workflow["nodes"]}
        self.links = parse_links(workflow)
        self.subgraph_ids = {sg.get("id") for sg in
                             (workflow.get("definitions") or {}).get("subgraphs") or []}

    def resolve(self, link_id: int | None, seen: frozenset[int] = frozenset()) -> Source:
        """The real (node id, output slot) feeding a link, a PrimitiveNode literal, or None."""
        if link_id is None or int(link_id) in seen:
            return None
        link = self.links.get(int(link_id))
        node = self.nodes.get(link.origin_id) if link else None
        if node is None or node.get("mode", 0) == MUTED:
            return None
        seen = seen | {int(link_id)}
        if node["type"] == "Reroute":
            return self.resolve(_input_link(node, 0), seen)
        if node["type"] == "PrimitiveNode":
            values = node.get("widgets_values") or []
            return PrimitiveValue(values[0]) if values else None
        if node.get("mode", 0) == BYPASSED:
            return self.resolve(_input_link(node, _bypass_input_index(node, link)), seen)
        return link.origin_id, link.origin_slot


def _input_link(node: dict, index: int | None) -> int | None:
    inputs = node.get("inputs") or []
    if index is None or not 0 <= index < len(inputs):
        return None
    return inputs[index].get("link")


def _types_match(a: Any, b: Any) -> bool:
    return a == b or "*" in (a, b)


def _bypass_input_index(node: dict, link: Link) -> int | None:
    """As the frontend does: a bypassed node passes on its input at the output's index if the type
    matches, else its first input of the output's type."""
    inputs = node.get("inputs") or []
    outputs = node.get("outputs") or []
    slot = link.origin_slot
    out_type = outputs[slot].get("type", link.type) if slot < len(outputs) else link.type
    if slot < len(inputs) and _types_match(inputs[slot].get("type"), out_type):
        return link.origin_slot
    for index, ui_input in enumerate(inputs):
        if _types_match(ui_input.get("type"), out_type):
            return index
    return None


def ordered_inputs(info: dict) -> Iterator[tuple[str, tuple]]:
    """(name, spec) of required then optional inputs, in input_order when the server gives one."""
    spec_input = info.get("input") or {}
    order = info.get("input_order") or {}
    for section in ("required", "optional"):
        specs = spec_input.get(section) or {}
        for name in order.get(section) or list(specs):
            if name in specs:
                yield name, specs[name]


def _spec_type_and_options(spec: Any) -> tuple[Any, dict]:
    spec = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return spec[0], options


def widget_type(spec: Any) -> Any:
    """The widget kind of an input spec ("COMBO" for option lists; `widgetType` overrides)."""
    input_type, options = _spec_type_and_options(spec)
    input_type = options.get("widgetType") or input_type
    return "COMBO" if isinstance(input_type, list) else input_type


def is_widget_spec(spec: Any) -> bool:
    kind = widget_type(spec)
    return isinstance(kind, str) and kind in WIDGET_TYPES


def has_control_widget(name: str, spec: Any) -> bool:
    """Whether the frontend adds a 'control after generate' value right after this widget.

    Mirrors the frontend: INT uses `control_after_generate ?? name in (seed, noise_seed)`,
    COMBO only an explicit `control_after_generate`.
    """
    _, options = _spec_type_and_options(spec)
    kind = widget_type(spec)
    if kind == "INT":
        flag = options.get("control_after_generate")
        return bool(flag) if flag is not None else name in SEED_NAMES
    return kind == "COMBO" and bool(options.get("control_after_generate"))


def widget_slots(info: dict, node: dict) -> list[tuple[str, bool]]:
    """(input name, followed by a control value) for each widget occupying a place in widgets_values."""
    ui_inputs = {_ui_input_name(i): i for i in node.get("inputs") or []}
    slots = []
    for name, spec in ordered_inputs(info):
        if not is_widget_spec(spec):
            continue
        ui_input = ui_inputs.get(name)
        if ui_input is not None and "widget" not in ui_input:
            continue  # a plain socket (forceInput): no widget value stored
        if ui_input is None and _spec_type_and_options(spec)[1].get("forceInput"):
            continue
        slots.append((name, has_control_widget(name, spec)))
    return slots


def _ui_input_name(ui_input: dict) -> str:
    widget = ui_input.get("widget")
    return widget["name"] if isinstance(widget, dict) and "name" in widget else ui_input["name"]


def widget_values(info: dict, node: dict) -> dict[str, Any]:
    """The node's widget values by input name, skipping 'control after generate' entries."""
    values = node.get("widgets_values")
    slots = widget_slots(info, node)
    if isinstance(values, dict):
        return {name: values[name] for name, _ in slots if name in values}
    values = list(values or [])
    result: dict[str, Any] = {}
    position = 0
    for name, has_control in slots:
        if position >= len(values):
            break
        result[name] = values[position]
        position += 1
        if has_control and position < len(values) and _is_control_value(values[position]):
            position += 1
    return result


def _is_control_value(value: Any) -> bool:
    return isinstance(value, str) and value in CONTROL_VALUES


def convert_node(graph: UIGraph, node: dict, info: dict) -> dict:
    """One API-format node: widget values overlaid with resolved links."""
    inputs: dict[str, Any] = widget_values(info, node)
    for ui_input in node.get("inputs") or []:
        source = graph.resolve(ui_input.get("link"))
        name = _ui_input_name(ui_input)
        if isinstance(source, PrimitiveValue):
            inputs[name] = source.value
        elif source is not None:
            inputs[name] = [source[0], source[1]]
    title = node.get("title") or info.get("display_name") or node["type"]
    return {"inputs": inputs, "class_type": node["type"], "_meta": {"title": title}}


def _unknown_type_error(graph: UIGraph, node_id: str, node_type: str) -> ConversionError:
    hint = ""
    if node_type in graph.subgraph_ids:
        hint = " (it is a subgraph; unpack it in the editor first)"
    elif str(node_type).startswith("workflow>"):
        hint = " (it is a group node; convert it to nodes in the editor first)"
    return ConversionError(f"node {node_id} ({node_type}): node type is not known to the server"
                           f"{hint}; is the custom node pack that provides it installed?")


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a UI-format workflow (editor save file) into an API-format prompt."""
    graph = UIGraph(workflow)
    api: dict[str, dict] = {}
    for node_id, node in graph.nodes.items():
        node_type = node.get("type")
        if node.get("mode", 0) in (MUTED, BYPASSED):
            continue
        if node_type not in object_info:
            if node_type in FRONTEND_ONLY_TYPES:
                continue
            raise _unknown_type_error(graph, node_id, node_type)
        api[node_id] = convert_node(graph, node, object_info[node_type])
    return api


def is_api_format(workflow: dict) -> bool:
    return bool(workflow) and all(isinstance(v, dict) and "class_type" in v for v in workflow.values())


# ----------------------------------------------------------------------------------------------
# Server process
# ----------------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def start_server(comfyui_path: str | Path, python: str | Path, port: int | None = None,
                 log_path: str | Path | None = None,
                 ready_timeout: float = SERVER_READY_TIMEOUT,
                 extra_args: list[str] | tuple[str, ...] = ()) -> tuple[subprocess.Popen, str]:
    """Start `python main.py --cpu [extra_args]` in comfyui_path on a loopback port; wait until it answers."""
    comfyui_path = Path(comfyui_path)
    if not (comfyui_path / "main.py").is_file():
        raise ServerError(f"{comfyui_path} is not a ComfyUI checkout (no main.py)")
    port = port or free_port()
    log_path = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"comfyui-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [str(python), "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), *extra_args]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=comfyui_path, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(process, base_url, log_path, ready_timeout)
    except BaseException:
        stop_server(process)
        raise
    return process, base_url


def wait_until_ready(process: subprocess.Popen, base_url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"ComfyUI exited with status {process.returncode} while starting; "
                              f"log {log_path} ends with:\n{log_tail(log_path)}")
        try:
            if requests.get(f"{base_url}/system_stats", timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise ServerError(f"ComfyUI did not answer on {base_url} within {timeout:.0f} s; "
                      f"log {log_path} ends with:\n{log_tail(log_path)}")


def stop_server(process: subprocess.Popen, grace: float = 15.0) -> None:
    """Terminate the server, killing it if it does not exit within `grace` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ----------------------------------------------------------------------------------------------
# Queueing, progress and outputs
# ----------------------------------------------------------------------------------------------

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


def output_files(history_entry: Any) -> Iterator[dict]:
    """Every file record ({filename, subfolder, type}) in the outputs: images, gifs, audio..."""
    outputs = history_entry.get("outputs") if isinstance(history_entry, dict) else None
    for node_output in (outputs.values() if isinstance(outputs, dict) else ()):
        for items in (node_output.values() if isinstance(node_output, dict) else ()):
            if isinstance(items, list):
                yield from (item for item in items if isinstance(item, dict) and "filename" in item)


class UnsafeOutputPath(ServerError):
    """The server named an output file that would land outside the output folder."""


def _unsafe(what: str, value: Any, expected: str) -> UnsafeOutputPath:
    return UnsafeOutputPath(f"refusing the server's output {what} {ascii(value)}: expected {expected}")


def _is_plain_name(part: str) -> bool:
    """A single path component: no separators, no '.'/'..', no control characters, no drive."""
    return (bool(part) and part not in (".", "..") and not any(c in part for c in "/\\")
            and all(ord(c) >= 32 for c in part) and not PureWindowsPath(part).drive)


def safe_file_name(value: Any) -> str:
    """The server-given file name if it is a plain name; UnsafeOutputPath otherwise."""
    if not isinstance(value, str) or not _is_plain_name(value):
        raise _unsafe("file name", value, "a plain file name")
    return value


def safe_subfolder(value: Any) -> tuple[str, ...]:
    """The components of a server-given relative subfolder ('' for none); UnsafeOutputPath otherwise."""
    if value is None or value == "":
        return ()
    expected = "a relative subfolder without '..'"
    if not isinstance(value, str) or value.startswith(("/", "\\")):
        raise _unsafe("subfolder", value, expected)
    parts = tuple(p for p in re.split(r"[/\\]", value) if p not in ("", "."))
    if not all(_is_plain_name(p) for p in parts):
        raise _unsafe("subfolder", value, expected)
    return parts


def output_target(out_dir: Path, record: dict) -> Path:
    """Where a server's file record is saved: inside the resolved out_dir, or UnsafeOutputPath.

    Existing folders are resolved (symlinks followed) before the check, so a link inside out_dir that
    points elsewhere is refused too. The file name itself is not resolved: files are created with
    O_EXCL (see create_new_file), which never follows a link.
    """
    name = safe_file_name(record.get("filename"))
    parts = safe_subfolder(record.get("subfolder", ""))
    root = out_dir.resolve()
    folder = root.joinpath(*parts).resolve()
    if folder != root and not folder.is_relative_to(root):
        raise _unsafe("subfolder", record.get("subfolder"), f"a folder inside {root}")
    return folder / name


def create_new_file(target: Path) -> tuple[Path, BinaryIO]:
    """Open target for writing without clobbering: an existing file (or link) is kept, and the new
    file gets the first free name STEM-1.EXT, STEM-2.EXT, ..."""
    for index in range(10_000):
        candidate = target if index == 0 else target.with_name(f"{target.stem}-{index}{target.suffix}")
        try:
            return candidate, open(candidate, "xb")
        except FileExistsError:
            continue
    raise ServerError(f"no free file name next to {target} (10000 taken)")


def download_file(base_url: str, record: dict, target: Path) -> Path:
    """Fetch one output file from /view into target (or a free name next to it); returns where it went."""
    params = {"filename": record["filename"], "subfolder": record.get("subfolder") or "",
              "type": record.get("type") or "output"}
    response = requests.get(f"{base_url}/view", params=params, timeout=120)
    response.raise_for_status()
    target.parent.mkdir(parents=True, exist_ok=True)
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


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def default_comfyui_path() -> Path | None:
    """COMFYUI_PATH if set, else the host scripts/setup.sh recorded, else its default .host/ComfyUI if present."""
    if os.environ.get("COMFYUI_PATH"):
        return Path(os.environ["COMFYUI_PATH"])
    marker = REPO_ROOT / ".host" / "comfyui_path"
    recorded = marker.read_text().strip() if marker.is_file() else ""
    if recorded:
        return Path(recorded)
    built = REPO_ROOT / ".host" / "ComfyUI"
    return built if built.is_dir() else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflow", type=Path, help="workflow JSON in UI (or API) format")
    parser.add_argument("--server", help="URL of a running ComfyUI server; default: start one")
    parser.add_argument("--out", type=Path, default=Path("output"), help="output folder (default ./output)")
    parser.add_argument("--comfyui", default=None, help="ComfyUI folder used to start a server")
    parser.add_argument("--python", default=sys.executable, help="python that runs ComfyUI")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for execution")
    parser.add_argument("--port", type=int, default=None, help="port for the started server")
    return parser.parse_args(argv)


def fetch_object_info(base_url: str) -> dict:
    response = requests.get(f"{base_url}/object_info", timeout=120)
    response.raise_for_status()
    return response.json()


def load_workflow(path: Path) -> dict:
    workflow = json.loads(path.read_text())
    if not isinstance(workflow, dict):
        raise ConversionError(f"{path}: not a ComfyUI workflow (expected a JSON object)")
    return workflow


def execute_workflow(workflow: dict, name: str, base_url: str, out_dir: Path, timeout: float) -> list[Path]:
    """Convert (unless already API format), save the API prompt for debugging, run it."""
    if is_api_format(workflow):
        api_prompt, extra_data = workflow, None
    else:
        api_prompt = ui_to_api(workflow, fetch_object_info(base_url))
        extra_data = {"extra_pnginfo": {"workflow": workflow}}  # embedded in saved PNGs, as the editor does
    api_path = out_dir / f"{name}.api.json"
    api_path.write_text(json.dumps(api_prompt, indent=2))
    print(f"API prompt written to {api_path}")
    return run_prompt(base_url, api_prompt, out_dir, timeout, extra_data=extra_data)


def isolated_server_args(scratch: Path) -> list[str]:
    """Keep a server we start from writing into the host's output, temp and user folders; send previews."""
    (scratch / "user").mkdir(parents=True, exist_ok=True)
    return ["--preview-method", "auto", "--output-directory", str(scratch / "output"),
            "--temp-directory", str(scratch / "temp"), "--user-directory", str(scratch / "user"),
            "--database-url", "sqlite:///:memory:"]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    process = scratch = None
    try:
        workflow = load_workflow(args.workflow)
        args.out.mkdir(parents=True, exist_ok=True)
        if args.server:
            base_url = args.server.rstrip("/")
        else:
            comfyui = args.comfyui or default_comfyui_path()
            if not comfyui:
                raise ServerError("no ComfyUI folder: pass --comfyui or --server, set COMFYUI_PATH, "
                                  "or run scripts/setup.sh")
            log_path = args.out / "comfyui-server.log"
            print(f"starting ComfyUI from {comfyui} (log: {log_path})")
            scratch = Path(tempfile.mkdtemp(prefix="rectiflow-run-"))
            process, base_url = start_server(comfyui, args.python, args.port, log_path,
                                             extra_args=isolated_server_args(scratch))
        for path in execute_workflow(workflow, args.workflow.stem, base_url, args.out, args.timeout):
            print(f"saved {path}")
        return 0
    except (ConversionError, PromptRejected, WorkflowError, ServerError, TimeoutError) as exc:
        print(exc, file=sys.stderr)
        return 1
    except (requests.RequestException, websocket.WebSocketException, OSError, ValueError) as exc:
        print(f"run_workflow: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if process is not None:
            stop_server(process)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
