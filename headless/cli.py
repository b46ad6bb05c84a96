"""rectiflow-run: Run a ComfyUI workflow (editor UI format or API format) headless on a real ComfyUI server.

Without --server a ComfyUI server is started on 127.0.0.1 (`PYTHON main.py --cpu` in the ComfyUI folder)
and always stopped at the end. The workflow is converted to the API format with the server's
/object_info, queued, followed over the websocket, and its output files are saved into --out.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

from .client import DEFAULT_REQUEST_TIMEOUT, fetch_object_info, run_prompt
from .convert import is_api_format, ui_to_api
from .errors import (ConversionError, PromptRejected, ServerError, Stopped, UsageError, WorkflowError, report_error,
                     shown)
from .server import PREVIEW_METHODS, default_comfyui_path, isolated_server_args, start_server, stop_server

PROG = "rectiflow-run"
EPILOG = """\
what the runner refuses:
  output files the server names with an absolute path, a '..' component, a path separator or a NUL in
  the file name, or a subfolder that resolves outside --out; existing files in --out are never
  overwritten (a new file takes the first free name NAME-1.EXT, NAME-2.EXT, ...).

exit status: 0 success; 1 any failure, named on stderr without a traceback (the node id, type and
  message for an execution error); 130 after SIGINT (Ctrl-C), 143 after SIGTERM. On a signal the prompt
  is removed from the queue and interrupted on the server, and a server the runner started is stopped."""
KNOWN_ERRORS = (ConversionError, PromptRejected, WorkflowError, ServerError, TimeoutError, UsageError)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {ascii(text)}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {ascii(text)}")
    return value


def server_url(text: str) -> str:
    if not text.startswith(("http://", "https://")):
        raise argparse.ArgumentTypeError(f"expected an http:// or https:// URL, got {ascii(text)}")
    return text.rstrip("/")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split(": ", 1)[1].strip(),
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow", type=Path, help="workflow JSON saved by the ComfyUI editor (or in API format)")
    parser.add_argument("--out", type=Path, default=Path("output"), metavar="DIR",
                        help="folder for the output files, the API prompt and the server log (default ./output)")
    parser.add_argument("--server", type=server_url, metavar="URL",
                        help="use this running ComfyUI server instead of starting one")
    started = parser.add_argument_group("the server the runner starts (without --server)")
    started.add_argument("--comfyui", type=Path, default=None, metavar="PATH",
                         help="ComfyUI folder (default: $COMFYUI_PATH, else the host scripts/setup.sh built)")
    started.add_argument("--python", default=sys.executable, metavar="PY",
                         help="python that runs ComfyUI (default: this python)")
    started.add_argument("--port", type=int, default=None, metavar="N", help="loopback port (default: a free one)")
    started.add_argument("--preview-method", choices=PREVIEW_METHODS, default=None,
                         help="ComfyUI's --preview-method for sampler previews (default: auto)")
    limits = parser.add_argument_group("time limits")
    limits.add_argument("--timeout", type=positive_float, default=600.0, metavar="SECONDS",
                        help="seconds allowed for the prompt to execute (default 600)")
    limits.add_argument("--request-timeout", type=positive_float, default=DEFAULT_REQUEST_TIMEOUT,
                        metavar="SECONDS", help="seconds to wait for the server to connect and to answer "
                        f"each request (default {DEFAULT_REQUEST_TIMEOUT:g})")
    return parser


def load_workflow(path: Path) -> dict:
    try:
        workflow = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConversionError(f"cannot read workflow {shown(str(path))}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConversionError(f"{shown(str(path))}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ConversionError(f"{shown(str(path))}: not valid JSON ({exc.msg} at line {exc.lineno} "
                              f"column {exc.colno})") from None
    if not isinstance(workflow, dict):
        raise ConversionError(f"{shown(str(path))}: not a ComfyUI workflow (expected a JSON object)")
    return workflow


def execute_workflow(workflow: dict, name: str, base_url: str, out_dir: Path, timeout: float,
                     request_timeout: float = DEFAULT_REQUEST_TIMEOUT) -> list[Path]:
    """Convert (unless already API format), save the API prompt for debugging, run it."""
    if is_api_format(workflow):
        api_prompt, extra_data = workflow, None
    else:
        api_prompt = ui_to_api(workflow, fetch_object_info(base_url, request_timeout))
        extra_data = {"extra_pnginfo": {"workflow": workflow}}  # embedded in saved PNGs, as the editor does
    api_path = out_dir / f"{name}.api.json"
    api_path.write_text(json.dumps(api_prompt, indent=2))
    print(f"API prompt written to {api_path}", flush=True)
    return run_prompt(base_url, api_prompt, out_dir, timeout, extra_data=extra_data,
                      request_timeout=request_timeout)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise Stopped in the main thread, once: later signals are ignored while the
    (bounded) clean-up runs, so it always finishes stopping the server."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            raise Stopped(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(args: argparse.Namespace) -> int:
    workflow = load_workflow(args.workflow)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot use --out {shown(str(args.out))} as the output folder: {exc.strerror}") from None
    process = scratch = None
    try:
        if args.server:
            base_url = args.server
            if args.preview_method:
                print("note: --preview-method only applies to a server the runner starts", flush=True)
        else:
            comfyui = args.comfyui or default_comfyui_path()
            if not comfyui:
                raise ServerError("no ComfyUI folder: pass --comfyui or --server, set COMFYUI_PATH, "
                                  "or run scripts/setup.sh")
            log_path = args.out / "comfyui-server.log"
            print(f"starting ComfyUI from {comfyui} (log: {log_path})", flush=True)
            scratch = Path(tempfile.mkdtemp(prefix="rectiflow-run-"))
            process, base_url = start_server(comfyui, args.python, args.port, log_path,
                                             extra_args=isolated_server_args(scratch, args.preview_method or "auto"))
            print(f"ComfyUI (pid {process.pid}) ready on {base_url}", flush=True)
        for path in execute_workflow(workflow, args.workflow.stem, base_url, args.out, args.timeout,
                                     args.request_timeout):
            print(f"saved {shown(str(path), limit=4096)}", flush=True)
        return 0
    finally:
        if process is not None:
            stop_server(process)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def report(message: str) -> None:
    report_error(PROG, message)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with stop_on_signals():
            return run(args)
    except Stopped as exc:
        report(str(exc))
        return 128 + exc.signum
    except KeyboardInterrupt:
        report("interrupted")
        return 128 + signal.SIGINT
    except KNOWN_ERRORS as exc:
        report(str(exc))
        return 1
    except OSError as exc:
        report(f"{exc.strerror or exc}" + (f": {shown(str(exc.filename))}" if exc.filename else ""))
        return 1
    except Exception as exc:  # a bug: still one line, the traceback on request
        if os.environ.get("RECTIFLOW_DEBUG"):
            raise
        report(f"unexpected {type(exc).__name__}: {exc} (set RECTIFLOW_DEBUG=1 for a traceback)")
        return 1
