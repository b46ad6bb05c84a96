"""rectiflow-batch, local backend: failures retried and recorded, Ctrl-C then resume (200 jobs on 2 servers with one
killed mid-batch: test_batch_fault.py)."""
from __future__ import annotations

import signal

import pytest
from batch_runner import BatchRun, assert_each_job_done_once

from rectiflow.headless.batch import main
from rectiflow.testing.batch_workflows import write_tiny_digits_workflow

pytestmark = pytest.mark.server

STOP_WITHIN = 10.0


def test_ctrl_c_stops_within_seconds_and_the_same_command_resumes(tmp_path):
    run = BatchRun(tmp_path, 30, "--servers", "2")
    run.wait_for_records(5, timeout=300)
    servers = run.servers()
    assert len(servers) == 2
    elapsed = run.signal(signal.SIGINT)
    assert elapsed < STOP_WITHIN, f"took {elapsed:.1f} s to stop"
    assert run.process.returncode == 130
    assert "stopped by SIGINT; the manifest keeps every finished job" in run.output()
    assert not [s for s in servers if s.is_running() and s.status() != "zombie"], "a server still runs"
    first = run.records()
    assert 5 <= len(first) < 30
    again = BatchRun(tmp_path, 30, "--servers", "2", out=run.out)
    assert again.finish(timeout=300) == 0, again.output()
    assert f"30 jobs, {len(first)} already done" in again.output()
    assert_each_job_done_once(again.records(), 30, run.out)


def test_a_failing_job_is_retried_then_recorded_and_others_still_run(server, tmp_path, capsys):
    """On a running --server: steps=0 is refused by the server's validation, steps=1 runs."""
    workflow = write_tiny_digits_workflow(tmp_path, steps=1)
    out = tmp_path / "batch"
    status = main([str(workflow), "--out", str(out), "--server", server, "--retries", "1",
                   "--sweep", "BasicScheduler:steps=1,0", "--sweep", "5:noise_seed=7"])
    assert status == 1
    captured = capsys.readouterr()
    assert "[batch] 1 done, 1 failed, 0 left of 2" in captured.out
    records = {r["overrides"]["8:steps"]: r for r in BatchRun.records_in(out)}
    assert records[1]["status"] == "done" and records[1]["attempts"] == 1
    failed = records[0]
    assert failed["status"] == "failed" and failed["attempts"] == 2 and len(failed["errors"]) == 2
    assert failed["errors"][0].startswith("attempt 1 on server 0: prompt rejected")
    assert "1 job(s) failed" in captured.err
