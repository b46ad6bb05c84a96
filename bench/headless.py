"""Batch throughput of rectiflow-batch's backends beside ComfyUI's own queue, on the tiny digits workflow.

    .venv/bin/python -P -m rectiflow.bench.headless [--jobs 30] [--doc]

One run measures, on the digits quickstart made tiny (one 16x16 digit, 1 Euler step; testing/batch_workflows.py):
- ComfyUI's own queue, 1 server: every prompt POSTed to /prompt at once, then waited for (no downloads);
- the bare round trip, 1 server: one prompt at a time, POST /prompt, follow /ws to the end, read /history, download
  the output (headless/jobs.execute, what every backend does per job);
- the local backend (headless/local_backend.py) on 1 and 2 servers;
- the Ray backend (headless/ray_backend.py, a local Ray instance) on 1 and 2 actors, each owning a server.
The servers the bench starts get OMP_NUM_THREADS = cores / 2, as rectiflow-batch --servers 2 gives them and as
Ray gives its workers. Server and Ray start-up is timed apart and left out of the rates. A backend's overhead per job is its seconds per
job on 1 server minus the bare round trip's. Writes bench/out/headless.json (and, with --doc, the `headless` section
of docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import requests

from rectiflow.headless.client import fetch_object_info, queue_prompt
from rectiflow.headless.convert import ui_to_api
from rectiflow.headless.jobs import execute
from rectiflow.headless.local_backend import LocalBackend, ServerSpec, Settings, server_env
from rectiflow.headless.server import default_comfyui_path, isolated_server_args, start_server, stop_server
from rectiflow.headless.sweep import job_prompt, plan_jobs
from rectiflow.testing.batch_workflows import SEED_NODE, tiny_digits_workflow

from ._report import write_section

OUT = Path(__file__).resolve().parent / "out"
TIMEOUT = 300.0


def timed(label: str, jobs: int, run: Callable[[], Any], results: dict) -> None:
    start = time.monotonic()
    run()
    seconds = time.monotonic() - start
    results[label] = {"jobs": jobs, "seconds": round(seconds, 2), "jobs_per_min": round(60 * jobs / seconds, 1),
                      "s_per_job": round(seconds / jobs, 3)}
    print(f"{label}: {results[label]}", flush=True)


def comfy_queue(url: str, prompts: list[dict]) -> None:
    """ComfyUI's own queue: POST every prompt, then poll /queue until it is empty."""
    for prompt in prompts:
        queue_prompt(url, prompt, "bench")
    while True:
        queue = requests.get(f"{url}/queue", timeout=30).json()
        if not queue["queue_running"] and not queue["queue_pending"]:
            return
        time.sleep(0.05)


def local_run(urls: list[str], prompt: dict, jobs: list, out: Path) -> Callable[[], None]:
    settings = Settings(out, TIMEOUT, 60.0, 0)

    def run() -> None:
        with LocalBackend([ServerSpec(url=url) for url in urls], settings) as backend:
            backend.run(prompt, jobs, lambda result: None, lambda: None)
    return run


def ray_runs(comfyui: Path, prompt: dict, jobs: list, out: Path, results: dict) -> None:
    from rectiflow.headless.ray_backend import RayBackend

    start = time.monotonic()
    with RayBackend(2, comfyui, sys.executable, Settings(out, TIMEOUT, 60.0, 0)) as backend:
        backend.object_info()
        import ray
        ray.get([actor.pid.remote() for actor in backend.actors])
        results["ray start-up, 2 actors (s)"] = round(time.monotonic() - start, 1)
        both = backend.actors
        for count in (1, 2):
            backend.actors = both[:count]
            timed(f"ray backend, {count} server(s)", len(jobs),
                  lambda: backend.run(prompt, jobs, lambda result: None, lambda: None), results)
        backend.actors = both


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30, help="jobs per measurement (default 30)")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    parser.add_argument("--doc", action="store_true", help="write the headless section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    comfyui = default_comfyui_path()
    scratch = Path(tempfile.mkdtemp(prefix="rectiflow-bench-headless-"))
    results: dict[str, Any] = {}
    servers = []
    try:
        start = time.monotonic()
        for index in range(2):
            folder = scratch / f"server{index}"
            servers.append(start_server(comfyui, sys.executable, log_path=scratch / f"server{index}.log",
                                        extra_args=isolated_server_args(folder, "none"),
                                        env=server_env(max(1, (os.cpu_count() or 1) // 2))))
        results["2 servers start-up (s)"] = round(time.monotonic() - start, 1)
        urls = [url for _, url in servers]
        prompt = ui_to_api(tiny_digits_workflow(steps=1), fetch_object_info(urls[0]))
        sweep = f"{SEED_NODE}:noise_seed"
        jobs = plan_jobs(prompt, [f"{sweep}=0..{args.jobs - 1}"])
        execute(urls[0], job_prompt(prompt, jobs[0]), TIMEOUT)     # warm: model loaded, caches filled
        execute(urls[1], job_prompt(prompt, jobs[0]), TIMEOUT)
        batches = iter(range(1, 100))

        def fresh(offset: int) -> list:   # new seeds each time, so ComfyUI's cache never answers
            return plan_jobs(prompt, [f"{sweep}={offset * 1000}..{offset * 1000 + args.jobs - 1}"])
        timed("ComfyUI queue, 1 server", args.jobs,
              lambda: comfy_queue(urls[0], [job_prompt(prompt, j) for j in fresh(next(batches))]), results)
        bare_jobs = fresh(next(batches))
        timed("bare round trip, 1 server", args.jobs,
              lambda: [execute(urls[0], job_prompt(prompt, j), TIMEOUT) for j in bare_jobs], results)
        for count in (1, 2):
            timed(f"local backend, {count} server(s)", args.jobs,
                  local_run(urls[:count], prompt, fresh(next(batches)), scratch / f"local{count}"), results)
    finally:
        for process, _ in servers:
            stop_server(process)
    if not args.no_ray:
        ray_runs(comfyui, prompt, fresh(next(batches)), scratch / "ray", results)
    shutil.rmtree(scratch, ignore_errors=True)
    bare = results["bare round trip, 1 server"]["s_per_job"]
    for backend in ("local", "ray"):
        key = f"{backend} backend, 1 server(s)"
        if key in results:
            results[f"{backend} overhead per job (ms)"] = round(1000 * (results[key]["s_per_job"] - bare), 1)
    OUT.mkdir(exist_ok=True)
    (OUT / "headless.json").write_text(json.dumps(results, indent=2))
    table = "\n".join(["| run | jobs/min | s/job |", "|---|---|---|"] + [
        f"| {name} | {value['jobs_per_min']} | {value['s_per_job']} |"
        for name, value in results.items() if isinstance(value, dict)])
    extras = "\n".join(f"- {name}: {value}" for name, value in results.items() if not isinstance(value, dict))
    print(table + "\n" + extras)
    if args.doc:
        write_section("headless", "python -P -m rectiflow.bench.headless", f"{table}\n\n{extras}\n")


if __name__ == "__main__":
    main()
