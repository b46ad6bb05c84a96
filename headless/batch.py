"""rectiflow-batch: Run one ComfyUI workflow many times, with swept or listed input overrides, on one or many
ComfyUI servers (this machine's, or a Ray cluster's).

Each job saves its outputs in DIR/jobs/NNNNN/ and gets one line in DIR/manifest.jsonl when it finishes (done
or failed after its retries). Run the same command again to resume: jobs already done are skipped.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from .cli import (KNOWN_ERRORS, load_workflow, positive_float, server_url, stop_on_signals)
from .client import DEFAULT_REQUEST_TIMEOUT
from .convert import is_api_format, ui_to_api
from .errors import ServerError, Stopped, UsageError, report_error, shown
from .local_backend import LocalBackend, ServerSpec, Settings
from .manifest import MANIFEST_NAME, DONE, JobResult, Manifest
from .progress import BatchProgress
from .server import default_comfyui_path
from .sweep import plan_jobs

PROG = "rectiflow-batch"
EPILOG = """\
examples:
  rectiflow-batch wf.json --sweep "5:noise_seed=0..999" --servers 2 --out runs/seeds
  rectiflow-batch wf.json --overrides jobs.csv --server http://gpu1:8188 --server http://gpu2:8188 --out runs/a
  rectiflow-batch wf.json --sweep "RandomNoise:noise_seed=0..99" --backend ray --ray-address auto --out runs/b

exit status: 0 every job done; 1 a job failed after its retries, or an error (named on stderr); 130 after
  SIGINT (Ctrl-C), 143 after SIGTERM: running prompts are interrupted, started servers stopped, and the
  manifest holds every job finished so far (run the same command again to resume)."""


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {ascii(text)}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {ascii(text)}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("expected a number >= 1, got 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split(": ", 1)[1].strip(), epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow", type=Path, help="workflow JSON saved by the ComfyUI editor (or in API format)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="batch folder: jobs/NNNNN/ per job, manifest.jsonl, server logs")
    jobs = parser.add_argument_group("jobs")
    jobs.add_argument("--sweep", action="append", default=[], metavar="NODE:INPUT=VALUES",
                      help="NODE a node id or title; VALUES A..B (integers, inclusive), A..B:STEP or a,b,c. "
                      "Several sweeps give every combination")
    jobs.add_argument("--overrides", type=Path, metavar="FILE",
                      help="CSV (header NODE:INPUT columns) or JSONL ({\"NODE:INPUT\": value} a line): one job a row")
    jobs.add_argument("--retries", type=non_negative_int, default=2, metavar="K",
                      help="times a failed job is tried again before it is recorded as failed (default 2)")
    servers = parser.add_argument_group("servers")
    servers.add_argument("--backend", choices=("local", "ray"), default="local",
                         help="local: threads on this machine (default); ray: one Ray actor per server "
                         "(pip install 'rectiflow[ray]')")
    servers.add_argument("--servers", type=positive_int, default=None, metavar="N",
                         help="start N ComfyUI servers (default 1 without --server)")
    servers.add_argument("--server", type=server_url, action="append", default=[], metavar="URL",
                         help="use this running ComfyUI server (repeat for several; local backend)")
    servers.add_argument("--comfyui", type=Path, default=None, metavar="PATH",
                         help="ComfyUI folder (default: $COMFYUI_PATH, else the host scripts/setup.sh built)")
    servers.add_argument("--python", default=sys.executable, metavar="PY",
                         help="python that runs ComfyUI (default: this python)")
    ray = parser.add_argument_group("ray backend")
    ray.add_argument("--ray-address", default=None, metavar="ADDR",
                     help="join this Ray cluster ('auto' or ray://host:10001); without it a local one starts")
    ray.add_argument("--gpus-per-server", type=float, default=0.0, metavar="G",
                     help="GPUs each server's actor reserves (1 on a GPU cluster; default 0: servers "
                     "run with --cpu)")
    ray.add_argument("--cpus-per-server", type=float, default=1.0, metavar="C",
                     help="CPUs each server's actor reserves (default 1)")
    limits = parser.add_argument_group("time limits")
    limits.add_argument("--timeout", type=positive_float, default=600.0, metavar="SECONDS",
                        help="seconds allowed for one job to execute (default 600)")
    limits.add_argument("--request-timeout", type=positive_float, default=DEFAULT_REQUEST_TIMEOUT,
                        metavar="SECONDS", help=f"seconds for each request (default {DEFAULT_REQUEST_TIMEOUT:g})")
    return parser


def check_args(args: argparse.Namespace) -> None:
    if not args.sweep and not args.overrides:
        raise UsageError("nothing to sweep: give --sweep NODE:INPUT=VALUES or --overrides FILE")
    if args.server and args.servers:
        raise UsageError("give either --servers N (servers the batch starts) or --server URL, not both")
    if args.backend == "ray" and args.server:
        raise UsageError("--server is for the local backend; the ray backend starts one server per actor")
    if args.ray_address and args.backend != "ray":
        raise UsageError("--ray-address needs --backend ray")


def server_specs(args: argparse.Namespace) -> list[ServerSpec]:
    if args.server:
        return [ServerSpec(url=url) for url in args.server]
    comfyui = args.comfyui or default_comfyui_path()
    if not comfyui:
        raise ServerError("no ComfyUI folder: pass --comfyui or --server, set COMFYUI_PATH, or run scripts/setup.sh")
    count = args.servers or 1
    threads = max(1, (os.cpu_count() or 1) // count)
    return [ServerSpec(comfyui=Path(comfyui), python=args.python, log_dir=args.out / "logs", threads=threads)] * count


def make_backend(args: argparse.Namespace, settings: Settings) -> Any:
    if args.backend == "ray":
        from .ray_backend import RayBackend

        comfyui = args.comfyui or default_comfyui_path()
        if not comfyui:
            raise ServerError("no ComfyUI folder: pass --comfyui, set COMFYUI_PATH, or run scripts/setup.sh")
        return RayBackend(args.servers or 1, Path(comfyui), args.python, settings, args.ray_address,
                          args.cpus_per_server, args.gpus_per_server)
    return LocalBackend(server_specs(args), settings)


def run(args: argparse.Namespace) -> int:
    check_args(args)
    workflow = load_workflow(args.workflow)
    try:
        (args.out / "logs").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot use --out {shown(str(args.out))} as the batch folder: {exc.strerror}") from None
    settings = Settings(args.out, args.timeout, args.request_timeout, args.retries)
    manifest = Manifest(args.out)
    progress = BatchProgress(0)
    with make_backend(args, settings) as backend:
        progress.note(f"starting {backend.describe()}")
        prompt = workflow if is_api_format(workflow) else ui_to_api(workflow, backend.object_info())
        jobs = plan_jobs(prompt, args.sweep, args.overrides)
        (args.out / "prompt.api.json").write_text(json.dumps(prompt, indent=2))
        done = manifest.done_keys()
        todo = [job for job in jobs if job.key not in done]
        progress = BatchProgress(len(jobs), len(jobs) - len(todo))
        progress.note(f"{len(jobs)} jobs, {len(jobs) - len(todo)} already done in {args.out / MANIFEST_NAME}")

        def record(result: JobResult) -> None:
            manifest.append(result)
            progress.finished(result.status == DONE)

        backend.run(prompt, todo, record, progress.tick)
    progress.tick(force=True)
    if progress.failed:
        report(f"{progress.failed} job(s) failed after {args.retries + 1} attempt(s) each; their errors are in "
               f"{shown(str(manifest.path), limit=400)}")
        return 1
    return 0


def report(message: str) -> None:
    report_error(PROG, message)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with stop_on_signals():
            return run(args)
    except Stopped as exc:
        report(f"{exc}; the manifest keeps every finished job: run the same command again to resume")
        return 128 + exc.signum
    except KeyboardInterrupt:
        report("interrupted; run the same command again to resume")
        return 130
    except KNOWN_ERRORS as exc:
        report(str(exc))
        return 1
    except OSError as exc:
        report(f"{exc.strerror or exc}" + (f": {shown(str(exc.filename))}" if exc.filename else ""))
        return 1


if __name__ == "__main__":
    sys.exit(main())
