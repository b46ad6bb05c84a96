"""The Ray backend (`pip install 'rectiflow[ray]'`): each Ray actor owns one ComfyUI server process.

Jobs go to the actors through Ray, one in flight per actor. When an actor's server dies, the actor exits;
Ray restarts it (a fresh server, `max_restarts`) and runs the job again (`max_task_retries`). A job that fails
on a healthy server comes back as a value and is submitted again until its retries are spent. The actor
returns the output files' bytes; they are checked and saved where the batch runs (jobs.save_files), so a
cluster needs no shared file system. Without --ray-address a local Ray instance starts, with as many CPUs as
there are servers times --cpus-per-server.
"""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

from .client import DEFAULT_REQUEST_TIMEOUT, fetch_object_info
from .errors import ServerError, UsageError, shown
from .jobs import execute, fresh_job_dir, is_server_fault, save_files, server_answers
from .local_backend import Settings, Work
from .manifest import DONE, FAILED, JobResult
from .server import isolated_server_args, start_server, stop_server
from .sweep import Job, job_prompt

try:
    import ray
except ImportError:  # the optional extra is not installed
    ray = None

CLOSE_TIMEOUT = 10.0
MAX_RESTARTS = 100
DEATH_RETRIES = 2


class ComfyServer:
    """A Ray actor around one ComfyUI server on its node's loopback (threaded: close() can interrupt a job)."""

    def __init__(self, comfyui: str, python: str, cpu: bool = True):
        self.scratch = Path(tempfile.mkdtemp(prefix="rectiflow-ray-server-"))
        self.closing = False
        self.process, self.url = start_server(comfyui, python, None, self.scratch / "server.log",
                                              extra_args=isolated_server_args(self.scratch, "none"), cpu=cpu)

    def object_info(self, request_timeout: float) -> dict:
        return fetch_object_info(self.url, request_timeout)

    def run_job(self, prompt: dict, timeout: float, request_timeout: float) -> dict[str, Any]:
        """The job's outcome: {"ok": True, prompt_id, files, wall_s} or {"ok": False, error}.
        A dead server makes the actor exit, so Ray restarts it with a fresh server and retries the job."""
        start = time.monotonic()
        try:
            fetched = execute(self.url, prompt, timeout, request_timeout)
        except Exception as exc:  # noqa: BLE001 - returned to the driver, which records it
            if not self.closing and is_server_fault(exc) and (self.process.poll() is not None
                                                              or not server_answers(self.url)):
                self._stop()
                os._exit(1)
            return {"ok": False, "error": str(exc), "wall_s": time.monotonic() - start, "server": self.where()}
        return {"ok": True, "prompt_id": fetched.prompt_id, "files": fetched.files,
                "wall_s": time.monotonic() - start, "server": self.where()}

    def where(self) -> str:
        return f"{ray.util.get_node_ip_address()} {self.url.rsplit(':', 1)[-1]} pid {self.process.pid}"

    def pid(self) -> int:
        return self.process.pid

    def close(self) -> None:
        self.closing = True
        self._stop()

    def _stop(self) -> None:
        stop_server(self.process)
        shutil.rmtree(self.scratch, ignore_errors=True)


class RayBackend:
    """Run a batch's jobs on Ray actors; record every finished job through `record`."""

    def __init__(self, servers: int, comfyui: Path, python: str, settings: Settings, address: str | None = None,
                 cpus_per_server: float = 1.0, gpus_per_server: float = 0.0):
        if ray is None:
            raise UsageError("the ray backend needs Ray: pip install 'rectiflow[ray]'")
        self.servers, self.comfyui, self.python = servers, comfyui, python
        self.settings, self.address = settings, address
        self.cpus, self.gpus = cpus_per_server, gpus_per_server
        self.actors: list[Any] = []
        self.started_ray = False
        self.stop = threading.Event()

    def describe(self) -> str:
        where = f"Ray cluster {shown(self.address)}" if self.address else "a local Ray instance"
        return f"ray backend, {self.servers} server(s) on {where}"

    def __enter__(self) -> "RayBackend":
        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                       "configure_logging": False}
            if not self.address:
                options["num_cpus"] = max(1, int(self.servers * self.cpus + 0.999))
            keep = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            ray.init(address=self.address, **options)
            self.started_ray = True
            if threading.current_thread() is threading.main_thread():
                for sig, handler in keep.items():   # Ray installs its own; Ctrl-C must still stop the batch
                    signal.signal(sig, handler)
        actor_class = ray.remote(ComfyServer).options(
            num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=MAX_RESTARTS, max_task_retries=DEATH_RETRIES,
            max_concurrency=2)
        on_cpu = self.gpus == 0        # with GPUs, Ray sets CUDA_VISIBLE_DEVICES to the actor's own
        self.actors = [actor_class.remote(str(self.comfyui), self.python, on_cpu) for _ in range(self.servers)]
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def object_info(self) -> dict:
        """/object_info of the first actor's server (waits for it to start)."""
        try:
            return ray.get(self.actors[0].object_info.remote(self.settings.request_timeout))
        except ray.exceptions.RayActorError as exc:
            raise ServerError(f"the first Ray actor could not start its ComfyUI server: {first_line(exc)}") from None

    def run(self, prompt: dict, jobs: list[Job], record: Callable[[JobResult], None],
            tick: Callable[[], None]) -> None:
        """Submit the jobs, one in flight per live actor, until each is recorded."""
        waiting = [Work(job) for job in reversed(jobs)]
        idle, running = list(self.actors), {}
        while waiting or running:
            while waiting and idle:
                actor, work = idle.pop(), waiting.pop()
                ref = actor.run_job.remote(job_prompt(prompt, work.job), self.settings.timeout,
                                           self.settings.request_timeout)
                running[ref] = (actor, work, time.monotonic())
            if not running:
                raise ServerError(f"{len(waiting)} job(s) not run: every Ray actor is gone")
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            tick()
            for ref in ready:
                actor, work, start = running.pop(ref)
                outcome = self._outcome(ref, start)
                if outcome.get("actor_gone"):
                    self.actors.remove(actor)
                else:
                    idle.append(actor)
                retry = self._finish(work, outcome, record)
                if retry:
                    waiting.append(work)

    def _outcome(self, ref: Any, start: float) -> dict[str, Any]:
        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            return {"ok": False, "actor_gone": True, "wall_s": time.monotonic() - start, "server": None,
                    "error": f"the Ray actor died {DEATH_RETRIES + 1} times running it: {first_line(exc)}"}
        except ray.exceptions.RayError as exc:
            return {"ok": False, "wall_s": time.monotonic() - start, "server": None, "error": first_line(exc)}

    def _finish(self, work: Work, outcome: dict[str, Any], record: Callable[[JobResult], None]) -> bool:
        """Save a done job's files and record it; True when a failed job should run again."""
        job_dir = self.settings.out_dir / "jobs" / work.job.name
        if outcome["ok"]:
            try:
                fresh_job_dir(job_dir)
                saved = save_files(job_dir, outcome["files"])
            except (ServerError, OSError) as exc:
                outcome = {**outcome, "ok": False, "error": str(exc)}
            else:
                outputs = [str(path.relative_to(self.settings.out_dir.resolve())) for path in saved]
                record(JobResult(work.job, DONE, outcome["prompt_id"], outputs, outcome["wall_s"],
                                 len(work.errors) + 1, outcome["server"], work.errors))
                return False
        work.errors.append(f"attempt {len(work.errors) + 1}: {outcome['error']}")
        print(f"[batch] job {work.job.name}: {shown(work.errors[-1], limit=300)}", flush=True)
        if len(work.errors) <= self.settings.retries:
            return True
        record(JobResult(work.job, FAILED, None, [], outcome["wall_s"], len(work.errors), outcome["server"],
                         work.errors))
        return False

    def server_pids(self) -> list[int]:
        return ray.get([actor.pid.remote() for actor in self.actors], timeout=CLOSE_TIMEOUT)

    def close(self) -> None:
        """Stop every actor's server (interrupting its job), then the actors, then a Ray instance we started."""
        self.stop.set()
        if ray is None or not ray.is_initialized():
            return
        closing = [actor.close.remote() for actor in self.actors]
        ray.wait(closing, num_returns=len(closing), timeout=CLOSE_TIMEOUT)
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
        if self.started_ray:
            ray.shutdown()


def first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return shown(lines[-1] if lines else type(exc).__name__, limit=300)
