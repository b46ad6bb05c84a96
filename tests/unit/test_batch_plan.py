"""rectiflow-batch without a server: sweeps, overrides files, one-line errors, the manifest and resuming."""
from __future__ import annotations

import json
import re

import pytest

from rectiflow.headless.batch import main
from rectiflow.headless.errors import UsageError
from rectiflow.headless.manifest import DONE, FAILED, JobResult, Manifest, read_records
from rectiflow.headless.sweep import job_prompt, plan_jobs

PROMPT = {
    "5": {"class_type": "RandomNoise", "inputs": {"noise_seed": 2026}, "_meta": {"title": "RandomNoise"}},
    "6": {"class_type": "CFGGuider", "inputs": {"cfg": 3.0, "model": ["1", 0]}, "_meta": {"title": "Guider"}},
    "8": {"class_type": "BasicScheduler", "inputs": {"scheduler": "simple", "steps": 32},
          "_meta": {"title": "Steps"}},
    "9": {"class_type": "X", "inputs": {}, "_meta": {"title": "Twin"}},
    "10": {"class_type": "X", "inputs": {}, "_meta": {"title": "Twin"}},
}


def test_a_range_sweep_gives_one_job_per_value_with_typed_values():
    jobs = plan_jobs(PROMPT, ["5:noise_seed=0..999"])
    assert len(jobs) == 1000
    assert jobs[0].overrides == {"5:noise_seed": 0} and jobs[-1].overrides == {"5:noise_seed": 999}
    assert [job.name for job in jobs[:2]] == ["00000", "00001"]
    assert job_prompt(PROMPT, jobs[7])["5"]["inputs"]["noise_seed"] == 7
    assert PROMPT["5"]["inputs"]["noise_seed"] == 2026


def test_titles_steps_lists_and_several_sweeps_make_every_combination():
    jobs = plan_jobs(PROMPT, ["RandomNoise:noise_seed=0..10:5", "Guider:cfg=1,2.5", "Steps:scheduler=simple,beta"])
    assert len(jobs) == 3 * 2 * 2
    assert jobs[0].overrides == {"5:noise_seed": 0, "6:cfg": 1.0, "8:scheduler": "simple"}
    assert jobs[-1].overrides == {"5:noise_seed": 10, "6:cfg": 2.5, "8:scheduler": "beta"}
    assert isinstance(jobs[0].overrides["6:cfg"], float)


@pytest.mark.parametrize("sweep, message", [
    ("5:noise_seed", r"--sweep '5:noise_seed': expected NODE:INPUT=VALUES"),
    ("noise_seed=1..3", r"expected NODE:INPUT, got 'noise_seed'"),
    ("77:noise_seed=1..3", r"no node with the id or title '77'"),
    ("Twin:x=1", r"several nodes have the title 'Twin' \(9, 10\); use a node id"),
    ("5:seed=1..3", r"node '5' \(RandomNoise\) has no input 'seed' \(inputs: noise_seed\)"),
    ("6:model=1", r"input 'model' of node '6' is a link, not a value"),
    ("5:noise_seed=3..1", r"empty range '3\.\.1'"),
    ("5:noise_seed=1..x", r"expected a range A\.\.B or A\.\.B:STEP of integers, got '1\.\.x'"),
    ("5:noise_seed=1,,2", r"empty value in '1,,2'"),
    ("5:noise_seed=one", r"expected a int, got 'one'"),
    ("5:noise_seed=\udc80", r"expected a int, got '\\udc80'"),
])
def test_sweep_errors_are_one_line_naming_the_sweep_node_or_input(sweep, message):
    with pytest.raises(UsageError) as error:
        plan_jobs(PROMPT, [sweep])
    assert "\n" not in str(error.value)
    assert re.search(message, str(error.value)), str(error.value)


def test_csv_and_jsonl_overrides_give_one_job_a_row_times_the_sweeps(tmp_path):
    csv_file = tmp_path / "jobs.csv"
    csv_file.write_text("5:noise_seed,Guider:cfg\n1,2.0\n2,4.5\n")
    jobs = plan_jobs(PROMPT, ["8:steps=4,8"], csv_file)
    assert [job.overrides for job in jobs[:2]] == [{"5:noise_seed": 1, "6:cfg": 2.0, "8:steps": 4},
                                                   {"5:noise_seed": 1, "6:cfg": 2.0, "8:steps": 8}]
    assert len(jobs) == 4
    jsonl = tmp_path / "jobs.jsonl"
    jsonl.write_text('{"5:noise_seed": 3}\n\n{"Steps:steps": 2, "5:noise_seed": 4}\n')
    assert [job.overrides for job in plan_jobs(PROMPT, [], jsonl)] == [{"5:noise_seed": 3},
                                                                      {"8:steps": 2, "5:noise_seed": 4}]


@pytest.mark.parametrize("name, content, message", [
    ("a.csv", "5:noise_seed,5:nope\n1,2\n", r"a\.csv' line 2: node '5' \(RandomNoise\) has no input 'nope'"),
    ("a.csv", "5:noise_seed\n1,2\n", r"a\.csv' line 2: not as many values as columns"),
    ("a.jsonl", '{"5:noise_seed": 1}\n[1]\n', r"a\.jsonl' line 2: expected a JSON object"),
    ("a.jsonl", "{oops\n", r"a\.jsonl' line 1: not JSON"),
    ("a.jsonl", "", r"the batch has no jobs"),
])
def test_overrides_file_errors_name_the_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(UsageError) as error:
        plan_jobs(PROMPT, [], path)
    assert re.search(message, str(error.value)), str(error.value)


def test_the_manifest_resumes_from_done_jobs_and_survives_a_torn_line(tmp_path):
    jobs = plan_jobs(PROMPT, ["5:noise_seed=0..3"])
    manifest = Manifest(tmp_path)
    manifest.append(JobResult(jobs[0], DONE, "p0", ["jobs/00000/a.png"], 1.0, 1, "s"))
    manifest.append(JobResult(jobs[1], FAILED, None, [], 1.0, 3, "s", ["attempt 1: x"] * 3))
    manifest.append(JobResult(jobs[2], FAILED, None, [], 1.0, 3, "s"))
    manifest.append(JobResult(jobs[2], DONE, "p2", [], 1.0, 1, "s"))
    with open(manifest.path, "a") as stream:
        stream.write('{"job": 3, "overrides": {"5:noise_seed": 3}, "sta')      # a runner killed mid-write
    assert manifest.done_keys() == {jobs[0].key, jobs[2].key}
    manifest.append(JobResult(jobs[3], DONE, "p3", [], 1.0, 1, "s"))
    records = read_records(manifest.path)
    assert [r["job"] for r in records] == [0, 1, 2, 2, 3]
    assert records[1]["errors"] == ["attempt 1: x"] * 3 and records[1]["attempts"] == 3
    assert manifest.done_keys() == {jobs[0].key, jobs[2].key, jobs[3].key}


@pytest.mark.parametrize("args, message", [
    ([], "nothing to sweep: give --sweep NODE:INPUT=VALUES or --overrides FILE"),
    (["--sweep", "5:noise_seed=1", "--servers", "2", "--server", "http://127.0.0.1:9"],
     "give either --servers N (servers the batch starts) or --server URL, not both"),
    (["--sweep", "5:noise_seed=1", "--ray-address", "auto"], "--ray-address needs --backend ray"),
    (["--sweep", "5:noise_seed=1..x", "--server", "http://127.0.0.1:9"], "expected a range A..B"),
])
def test_bad_command_lines_are_one_line(tmp_path, capsys, args, message):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(PROMPT))
    status = main([str(workflow), "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err.splitlines()
    assert status == 1 and len(err) == 1, err
    assert err[0].startswith("rectiflow-batch: ") and message in err[0], err


def test_an_unreachable_server_is_named(tmp_path, capsys):
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps(PROMPT))
    status = main([str(workflow), "--out", str(tmp_path / "out"), "--sweep", "5:noise_seed=1..2",
                   "--server", "http://127.0.0.1:9", "--request-timeout", "1"])
    err = capsys.readouterr().err.splitlines()
    assert status == 1 and len(err) == 1, err
    assert "http://127.0.0.1:9 does not answer /system_stats" in err[0]


def test_servers_run_on_the_cpu_unless_a_ray_actor_reserves_a_gpu():
    from rectiflow.headless.server import server_command

    assert "--cpu" in server_command("python", 8188)
    assert "--cpu" not in server_command("python", 8188, ["--preview-method", "none"], cpu=False)
