"""rectiflow-batch, Ray backend: a local 2-CPU Ray instance, one actor per ComfyUI server (200 jobs on 2 servers
with one killed mid-batch: test_batch_fault.py)."""
from __future__ import annotations

import signal

import pytest
from batch_runner import BatchRun

pytest.importorskip("ray", reason="the ray backend needs the optional extra rectiflow[ray]")

pytestmark = pytest.mark.server

STOP_WITHIN = 15.0


def test_sigterm_stops_the_ray_batch_and_its_servers(tmp_path):
    run = BatchRun(tmp_path, 40, "--backend", "ray", "--servers", "2")
    run.wait_for_records(3, timeout=300)
    servers = run.servers()
    assert len(servers) == 2, run.output()
    elapsed = run.signal(signal.SIGTERM)
    assert elapsed < STOP_WITHIN, f"took {elapsed:.1f} s to stop"
    assert run.process.returncode == 143, run.output()
    assert not [s for s in servers if s.is_running() and s.status() != "zombie"], "a server still runs"
    assert 3 <= len(run.records()) < 40
