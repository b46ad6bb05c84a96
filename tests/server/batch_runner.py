"""rectiflow-batch as a child process for the batch tests: its manifest, its ComfyUI servers, its signals."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil

from rectiflow.headless.manifest import read_records
from rectiflow.testing.batch_workflows import SEED_NODE, write_tiny_digits_workflow


class BatchRun:
    """One `python -m rectiflow.headless.batch` process over the tiny digits workflow, seeds 0..jobs-1."""

    def __init__(self, tmp_path: Path, jobs: int, *options: str, out: Path | None = None):
        self.out = out or tmp_path / "batch"
        self.jobs = jobs
        workflow = write_tiny_digits_workflow(tmp_path, steps=1)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_USAGE_STATS_ENABLED": "0"}
        self.log = open(tmp_path / f"runner-{time.monotonic_ns()}.log", "w+")
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-m", "rectiflow.headless.batch", str(workflow), "--out", str(self.out),
             "--sweep", f"{SEED_NODE}:noise_seed=0..{jobs - 1}", *options],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def records(self) -> list[dict]:
        return self.records_in(self.out)

    @staticmethod
    def records_in(out: Path) -> list[dict]:
        return read_records(out / "manifest.jsonl")

    def wait_for_records(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.records()) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{len(self.records())} records, not {count}; runner output:\n{self.output()}")
            time.sleep(0.2)

    def finish(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"the batch did not finish within {timeout:.0f} s; output:\n{self.output()}")

    def servers(self) -> list[psutil.Process]:
        """The ComfyUI servers the runner started (its descendants, through Ray's workers for the ray backend)."""
        try:
            children = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        found = []
        for child in children:
            try:
                cmdline = child.cmdline()
            except psutil.Error:
                continue
            if "main.py" in cmdline and "--listen" in cmdline:
                found.append(child)
        return found

    def signal(self, signum: int) -> float:
        """Send a signal; the seconds until the runner exited."""
        start = time.monotonic()
        self.process.send_signal(signum)
        self.finish(timeout=60)
        return time.monotonic() - start

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def assert_each_job_done_once(records: list[dict], jobs: int, out: Path) -> None:
    """Every seed 0..jobs-1 has exactly one 'done' record, with its output files inside its job folder."""
    done = [r for r in records if r["status"] == "done"]
    seeds = Counter(r["overrides"][f"{SEED_NODE}:noise_seed"] for r in done)
    assert sorted(seeds) == list(range(jobs)), f"missing {sorted(set(range(jobs)) - set(seeds))[:10]}"
    assert max(seeds.values()) == 1, f"done twice: {[s for s, n in seeds.items() if n > 1][:10]}"
    for record in done:
        assert record["prompt_id"] and record["outputs"], record
        for output in record["outputs"]:
            assert output.startswith(f"jobs/{record['job']:05d}/") and (out / output).stat().st_size > 0
    assert json.dumps(records).count('"status": "failed"') == 0
