"""rectiflow-run's command line: bounded request timeouts, one-line errors, options reaching the server."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rectiflow.headless.cli import main
from rectiflow.headless.server import free_port

UI_WORKFLOW = {"nodes": [{"id": 1, "type": "EmptyImage", "widgets_values": [8, 8]}], "links": []}
API_WORKFLOW = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8}}}


@pytest.fixture
def silent_server():
    """A socket on 127.0.0.1 that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        listener.close()


def write(tmp_path: Path, name: str, content) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def run_cli(capsys, *argv) -> tuple[int, list[str], float]:
    start = time.monotonic()
    status = main([str(a) for a in argv])
    return status, capsys.readouterr().err.splitlines(), time.monotonic() - start


@pytest.mark.parametrize("workflow, path", [(UI_WORKFLOW, "/object_info"), (API_WORKFLOW, "/ws?clientId=")])
def test_a_server_that_never_answers_fails_within_the_request_timeout(silent_server, tmp_path, capsys,
                                                                       workflow, path):
    wf = write(tmp_path, "wf.json", workflow)
    status, err, elapsed = run_cli(capsys, wf, "--server", silent_server, "--request-timeout", "0.5",
                                   "--out", tmp_path / "out")
    assert status == 1 and elapsed < 5
    assert len(err) == 1, err
    host = silent_server.split("://")[1]
    assert err[0].startswith("rectiflow-run: no answer from ") and f"{host}{path}" in err[0]
    assert "within 0.5 s (--request-timeout" in err[0]


def test_nothing_listening_is_one_line(tmp_path, capsys):
    wf = write(tmp_path, "wf.json", UI_WORKFLOW)
    url = f"http://127.0.0.1:{free_port()}"
    status, err, _ = run_cli(capsys, wf, "--server", url, "--out", tmp_path / "out")
    assert status == 1
    assert err == [f"rectiflow-run: cannot reach {url}/object_info: [Errno 111] Connection refused"]


@pytest.mark.parametrize("content, message", [
    ('{"nodes": [', r"bad\.json: not valid JSON \(Expecting value at line 1 column 12\)"),
    ("[1, 2]", r"bad\.json: not a ComfyUI workflow \(expected a JSON object\)"),
    (None, r"cannot read workflow .*bad\.json: No such file or directory"),
])
def test_bad_workflow_files_are_one_line(tmp_path, capsys, content, message):
    wf = write(tmp_path, "bad.json", content) if content is not None else tmp_path / "bad.json"
    status, err, _ = run_cli(capsys, wf, "--server", "http://127.0.0.1:9", "--out", tmp_path / "out")
    assert status == 1 and len(err) == 1
    assert err[0].startswith("rectiflow-run: ")
    assert re.search(message, err[0]), err[0]


@pytest.mark.parametrize("args, message", [
    (["--server", "127.0.0.1:8188"], "--server: expected an http:// or https:// URL, got '127.0.0.1:8188'"),
    (["--request-timeout", "0"], "--request-timeout: expected a positive number of seconds, got '0'"),
    (["--preview-method", "fast"], "--preview-method: invalid choice: 'fast'"),
])
def test_bad_options_are_refused_by_name(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "wf.json"), *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_preview_method_reaches_the_server_command_line(tmp_path, capsys):
    """A fake ComfyUI folder whose main.py records its arguments and refuses to start."""
    fake = tmp_path / "FakeComfyUI"
    fake.mkdir()
    (fake / "main.py").write_text("import json, sys\nopen('argv.json', 'w').write(json.dumps(sys.argv))\n"
                                  "print('fake ComfyUI refuses to start')\nsys.exit(3)\n")
    wf = write(tmp_path, "wf.json", UI_WORKFLOW)
    status, err, _ = run_cli(capsys, wf, "--comfyui", fake, "--python", sys.executable,
                             "--preview-method", "taesd", "--out", tmp_path / "out")
    argv = json.loads((fake / "argv.json").read_text())
    assert argv[argv.index("--preview-method") + 1] == "taesd"
    assert argv[argv.index("--listen") + 1] == "127.0.0.1"
    assert status == 1
    assert err[0].startswith("rectiflow-run: ComfyUI exited with status 3 while starting")
    assert "fake ComfyUI refuses to start" in err[-1]


def test_a_python_that_does_not_exist_is_named(tmp_path, capsys):
    fake = tmp_path / "FakeComfyUI"
    fake.mkdir()
    (fake / "main.py").write_text("")
    wf = write(tmp_path, "wf.json", UI_WORKFLOW)
    status, err, _ = run_cli(capsys, wf, "--comfyui", fake, "--python", tmp_path / "no-python",
                             "--out", tmp_path / "out")
    assert status == 1
    assert err == [f"rectiflow-run: cannot start ComfyUI with python {ascii(str(tmp_path / 'no-python'))}: "
                   "No such file or directory"]


def test_an_out_that_is_a_file_is_named(tmp_path, capsys):
    wf = write(tmp_path, "wf.json", UI_WORKFLOW)
    blocker = write(tmp_path, "taken", "a user file")
    status, err, _ = run_cli(capsys, wf, "--server", "http://127.0.0.1:9", "--out", blocker)
    assert status == 1
    assert err == [f"rectiflow-run: cannot use --out {blocker} as the output folder: File exists"]
    assert blocker.read_text() == "a user file"


def test_help_names_every_option_and_what_is_refused():
    result = subprocess.run([sys.executable, "-m", "rectiflow.headless", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for text in ("usage: rectiflow-run", "--server URL", "--out DIR", "--preview-method {none,auto,latent2rgb,taesd}",
                 "--request-timeout SECONDS", "--timeout SECONDS", "what the runner refuses", "exit status"):
        assert text in result.stdout, text
