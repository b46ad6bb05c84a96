"""rectiflow-run stops within seconds on SIGTERM or SIGINT, interrupts its prompt and stops its server.

The digits quickstart with 1000 steps (the most the 'simple' schedule gives distinct sigmas for) keeps a
real ComfyUI busy for minutes, long enough to be signalled mid-sampling.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from rectiflow.testing.comfy_host import REPO

pytestmark = pytest.mark.server

SAMPLING = "SamplerCustomAdvanced] step "
STOP_WITHIN = 10.0


def long_workflow(tmp_path: Path) -> Path:
    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    scheduler = next(n for n in workflow["nodes"] if n["type"] == "BasicScheduler")
    scheduler["widgets_values"][1] = 1000
    path = tmp_path / "long.json"
    path.write_text(json.dumps(workflow))
    return path


class Runner:
    """rectiflow-run as a child process, its stdout read line by line in a thread."""

    def __init__(self, *args):
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "rectiflow.headless", *map(str, args)],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.seen.append(line)
            if text in line:
                return line
        self.process.kill()
        pytest.fail(f"no line with {text!r}; stdout {self.seen}; stderr {self.process.stderr.read()}")

    def stop_with(self, signum: int) -> tuple[int, float, str]:
        start = time.monotonic()
        self.process.send_signal(signum)
        try:
            status = self.process.wait(timeout=30)
        finally:
            self.process.kill()
        return status, time.monotonic() - start, self.process.stderr.read()


def gone(pid: int, within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not Path(f"/proc/{pid}").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_runner_and_the_server_it_started(tmp_path, signum):
    runner = Runner(long_workflow(tmp_path), "--out", tmp_path / "out", "--preview-method", "latent2rgb")
    ready = runner.wait_for("ComfyUI (pid ", timeout=300)
    server_pid = int(ready.split("(pid ")[1].split(")")[0])
    argv = Path(f"/proc/{server_pid}/cmdline").read_bytes().decode().split("\0")
    assert argv[argv.index("--preview-method") + 1] == "latent2rgb"
    runner.wait_for(SAMPLING, timeout=120)
    time.sleep(1.0)
    status, elapsed, stderr = runner.stop_with(signum)
    assert elapsed < STOP_WITHIN, f"took {elapsed:.1f} s to stop"
    assert status == 128 + signum
    assert stderr.strip() == f"rectiflow-run: stopped by {signal.Signals(signum).name}"
    assert gone(server_pid), f"ComfyUI (pid {server_pid}) still runs"


def test_sigint_interrupts_the_prompt_on_a_given_server(server, tmp_path):
    runner = Runner(long_workflow(tmp_path), "--server", server, "--out", tmp_path / "out")
    prompt_id = runner.wait_for("queued prompt ", timeout=120).split()[-1]
    try:
        runner.wait_for(SAMPLING, timeout=120)
        status, elapsed, _ = runner.stop_with(signal.SIGINT)
        assert status == 128 + signal.SIGINT and elapsed < STOP_WITHIN
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            entry = requests.get(f"{server}/history/{prompt_id}", timeout=10).json().get(prompt_id)
            if entry:
                break
            time.sleep(0.25)
        assert entry, f"no history entry for the interrupted prompt {prompt_id}"
        messages = [kind for kind, _ in entry["status"]["messages"]]
        assert "execution_interrupted" in messages, messages
        assert requests.get(f"{server}/queue", timeout=10).json()["queue_running"] == []
    finally:  # never leave the shared server busy with 1000 steps
        requests.post(f"{server}/queue", json={"delete": [prompt_id]}, timeout=10)
        requests.post(f"{server}/interrupt", json={"prompt_id": prompt_id}, timeout=10)
