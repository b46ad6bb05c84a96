"""Start, wait for and stop the ComfyUI server process the runner owns (127.0.0.1 only).

The server runs in its own session, so a terminal's Ctrl-C reaches only the runner, which then stops
the server in order; on Linux it also gets SIGTERM if the runner dies without cleaning up.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import requests

from .errors import ServerError

SERVER_READY_TIMEOUT = 180.0
STOP_GRACE = 5.0
PREVIEW_METHODS = ("none", "auto", "latent2rgb", "taesd")
REPO_ROOT = Path(__file__).resolve().parents[1]
PR_SET_PDEATHSIG = 1


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def isolated_server_args(scratch: Path, preview_method: str = "auto") -> list[str]:
    """Keep a server we start from writing into the host's output, temp and user folders; set its previews."""
    if preview_method not in PREVIEW_METHODS:
        raise ServerError(f"preview method {ascii(preview_method)} is not one of {', '.join(PREVIEW_METHODS)}")
    (scratch / "user").mkdir(parents=True, exist_ok=True)
    return ["--preview-method", preview_method, "--output-directory", str(scratch / "output"),
            "--temp-directory", str(scratch / "temp"), "--user-directory", str(scratch / "user"),
            "--database-url", "sqlite:///:memory:"]


def server_command(python: str | Path, port: int, extra_args: Sequence[str] = (), cpu: bool = True) -> list[str]:
    """The command line that starts ComfyUI (run in its folder) on a loopback port (on the CPU unless cpu=False)."""
    return [str(python), "main.py", *(["--cpu"] if cpu else []), "--listen", "127.0.0.1", "--port", str(port),
            *extra_args]


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGTERM the child when the runner dies (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start_server(comfyui_path: str | Path, python: str | Path, port: int | None = None,
                 log_path: str | Path | None = None,
                 ready_timeout: float = SERVER_READY_TIMEOUT,
                 extra_args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None, cpu: bool = True) -> tuple[subprocess.Popen, str]:
    """Start `python main.py --cpu [extra_args]` in comfyui_path on a loopback port; wait until it answers.
    `env` replaces the environment it inherits; cpu=False leaves out --cpu (ComfyUI then uses a GPU it sees)."""
    comfyui_path = Path(comfyui_path)
    if not (comfyui_path / "main.py").is_file():
        raise ServerError(f"{comfyui_path} is not a ComfyUI checkout (no main.py)")
    port = port or free_port()
    log_path = Path(log_path) if log_path else Path(tempfile.gettempdir()) / f"comfyui-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(server_command(python, port, extra_args, cpu), cwd=comfyui_path, stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                       start_new_session=True, preexec_fn=_die_with_parent())
        except OSError as exc:
            raise ServerError(f"cannot start ComfyUI with python {ascii(str(python))}: {exc.strerror}") from None
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


def stop_server(process: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """Terminate the server, killing it if it does not exit within `grace` seconds. A signal that
    interrupts the wait kills the server before it propagates."""
    if process.poll() is not None:
        return
    try:
        process.terminate()
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
