"""rectiflow-run: run a ComfyUI workflow saved in the editor's UI format headless against a real ComfyUI server.

    rectiflow-run WORKFLOW.json [--server URL] [--out DIR] [--comfyui PATH] [--python PY]
                  [--timeout SECONDS] [--port N]

Without --server a server is started (`PY main.py --cpu --listen 127.0.0.1 --port N` in the ComfyUI
folder) and stopped at the end. The workflow is converted to the API format with the server's
/object_info, queued, followed over the websocket, and its output files are saved into --out.
Exit status: 0 on success, 1 on any failure.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import requests
import websocket

from .client import fetch_object_info, run_prompt
from .convert import ConversionError, is_api_format, ui_to_api
from .errors import PromptRejected, ServerError, WorkflowError
from .server import default_comfyui_path, isolated_server_args, start_server, stop_server


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rectiflow-run", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    parser.add_argument("workflow", type=Path, help="workflow JSON in UI (or API) format")
    parser.add_argument("--server", help="URL of a running ComfyUI server; default: start one")
    parser.add_argument("--out", type=Path, default=Path("output"), help="output folder (default ./output)")
    parser.add_argument("--comfyui", default=None, help="ComfyUI folder used to start a server")
    parser.add_argument("--python", default=sys.executable, help="python that runs ComfyUI")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed for execution")
    parser.add_argument("--port", type=int, default=None, help="port for the started server")
    return parser.parse_args(argv)


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
        print(f"rectiflow-run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        if process is not None:
            stop_server(process)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

