"""The local backend: N ComfyUI servers on this machine (or --server URLs), each fed by one thread.

Each slot's thread starts its server itself (Linux stops a child when the thread that started it ends) and
restarts it when it dies; the job it was running goes back on the queue. A failed job is retried `retries`
times, then recorded as failed. Jobs come from one queue.Queue, so no job runs twice at once.
"""
from __future__ import annotations

import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .client import cancel_prompt, fetch_object_info
from .errors import ServerError, shown
from .jobs import execute, fresh_job_dir, is_server_fault, save_files, server_answers
from .manifest import DONE, FAILED, JobResult
from .server import isolated_server_args, start_server, stop_server
from .sweep import Job, job_prompt

JOIN_TIMEOUT = 10.0
URL_RETRY_WAIT = 2.0
URL_GIVE_UP = 120.0


@dataclass
class ServerSpec:
    """How a slot gets its server: a URL already running, or ComfyUI started from a folder."""
    url: str | None = None
    comfyui: Path | None = None
    python: str = ""
    log_dir: Path | None = None
    threads: int = 0          # CPU threads for its torch (OMP_NUM_THREADS); 0 leaves the environment as is


def server_env(threads: int) -> dict[str, str]:
    """This environment, with OMP_NUM_THREADS set (unless the user set it) so N servers share the cores
    instead of each starting a thread per core, as Ray does for its workers."""
    env = dict(os.environ)
    if threads > 0:
        env.setdefault("OMP_NUM_THREADS", str(threads))
    return env


@dataclass
class Settings:
    out_dir: Path
    timeout: float
    request_timeout: float
    retries: int


@dataclass
class Work:
    job: Job
    errors: list[str] = field(default_factory=list)


class Slot:
    """One server and the thread that feeds it."""

    def __init__(self, index: int, spec: ServerSpec):
        self.index = index
        self.spec = spec
        self.url = spec.url
        self.process: subprocess.Popen | None = None
        self.scratch: Path | None = None
        self.starts = 0
        self.current: str | None = None      # the prompt id it runs now
        self.ready = threading.Event()
        self.failure: str | None = None
        self.thread: threading.Thread | None = None

    @property
    def owned(self) -> bool:
        return self.spec.url is None

    def start(self) -> None:
        """Start (or restart) the ComfyUI server this slot owns; must run in the slot's own thread."""
        self.stop_server()
        self.starts += 1
        self.scratch = Path(tempfile.mkdtemp(prefix=f"rectiflow-batch-{self.index}-"))
        log = self.spec.log_dir / f"server-{self.index}-start{self.starts}.log"
        self.process, self.url = start_server(self.spec.comfyui, self.spec.python, None, log,
                                              extra_args=isolated_server_args(self.scratch, "none"),
                                              env=server_env(self.spec.threads))

    def stop_server(self) -> None:
        if self.process is not None:
            stop_server(self.process)
            self.process = None
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    def recover(self, stop: threading.Event) -> None:
        """After a server fault: restart an owned server that is gone; wait for a given one to answer."""
        if self.owned:
            if self.process is None or self.process.poll() is not None or not server_answers(self.url):
                self.start()
            return
        give_up = time.monotonic() + URL_GIVE_UP
        while not stop.is_set() and not server_answers(self.url):
            if time.monotonic() > give_up:
                raise ServerError(f"{self.url} has not answered for {URL_GIVE_UP:.0f} s")
            stop.wait(URL_RETRY_WAIT)


class LocalBackend:
    """Run a batch's jobs on local slots; record every finished job through `record`."""

    def __init__(self, specs: list[ServerSpec], settings: Settings):
        self.slots = [Slot(i, spec) for i, spec in enumerate(specs)]
        self.settings = settings
        self.queue: queue.Queue[Work] = queue.Queue()
        self.stop = threading.Event()
        self.planned = threading.Event()
        self.prompt: dict = {}
        self.record: Callable[[JobResult], None] = lambda result: None

    def __enter__(self) -> "LocalBackend":
        for slot in self.slots:
            slot.thread = threading.Thread(target=self._feed, args=(slot,), daemon=True,
                                           name=f"rectiflow-batch-slot-{slot.index}")
            slot.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def describe(self) -> str:
        return f"local backend, {len(self.slots)} server(s)"

    def object_info(self) -> dict:
        """/object_info of the first server that is ready (waits for one to start)."""
        while not self.stop.is_set():
            for slot in self.slots:
                if slot.ready.is_set():
                    return fetch_object_info(slot.url, self.settings.request_timeout)
            if all(slot.failure for slot in self.slots):
                raise ServerError("no server started: " + "; ".join(s.failure for s in self.slots if s.failure))
            time.sleep(0.1)
        raise ServerError("stopped before a server started")

    def run(self, prompt: dict, jobs: list[Job], record: Callable[[JobResult], None],
            tick: Callable[[], None]) -> None:
        """Queue the jobs and wait until each is recorded (or every slot has given up)."""
        self.prompt, self.record = prompt, record
        for job in jobs:
            self.queue.put(Work(job))
        self.planned.set()
        while self.queue.unfinished_tasks:
            if not any(slot.thread.is_alive() for slot in self.slots):
                failures = "; ".join(s.failure for s in self.slots if s.failure) or "every server thread ended"
                raise ServerError(f"{self.queue.unfinished_tasks} job(s) not run: {failures}")
            tick()
            time.sleep(0.2)

    def close(self) -> None:
        """Stop feeding, interrupt running prompts, stop the servers this backend started."""
        self.stop.set()
        self.planned.set()
        for slot in self.slots:
            if slot.current and slot.url:
                cancel_prompt(slot.url, slot.current)
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.join(timeout=JOIN_TIMEOUT)
            slot.stop_server()

    def _feed(self, slot: Slot) -> None:
        try:
            if slot.owned:
                slot.start()
            elif not server_answers(slot.url, self.settings.request_timeout):
                raise ServerError(f"{slot.url} does not answer /system_stats")
        except (ServerError, OSError) as exc:
            slot.failure = f"server {slot.index}: {exc}"
            return
        slot.ready.set()
        self.planned.wait()
        try:
            while not self.stop.is_set() and self.queue.unfinished_tasks:
                try:
                    work = self.queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                try:
                    server_fault = self._attempt(slot, work)
                finally:
                    self.queue.task_done()
                if server_fault and self.queue.unfinished_tasks:
                    slot.recover(self.stop)
        except (ServerError, OSError) as exc:   # a restart that failed: the other slots carry on
            slot.failure = f"server {slot.index}: {exc}"
        finally:
            if slot.owned and threading.current_thread() is slot.thread:
                slot.stop_server()

    def _attempt(self, slot: Slot, work: Work) -> bool:
        """Run one job; True when it failed for its server (which then needs recovering)."""
        job, settings = work.job, self.settings
        job_dir = settings.out_dir / "jobs" / job.name
        start = time.monotonic()
        try:
            fresh_job_dir(job_dir)
            fetched = execute(slot.url, job_prompt(self.prompt, job), settings.timeout, settings.request_timeout,
                              on_queued=lambda prompt_id: setattr(slot, "current", prompt_id))
            saved = save_files(job_dir, fetched.files)
        except Exception as exc:  # noqa: BLE001 - any failure of a job is recorded, never dropped
            slot.current = None
            if self.stop.is_set():
                return False                             # not recorded: a resumed batch runs it again
            work.errors.append(f"attempt {len(work.errors) + 1} on server {slot.index}: {exc}")
            self._retry_or_fail(work, slot, time.monotonic() - start)     # back on the queue for any slot
            return is_server_fault(exc)
        slot.current = None
        outputs = [str(path.relative_to(settings.out_dir.resolve())) for path in saved]
        self.record(JobResult(job, DONE, fetched.prompt_id, outputs, time.monotonic() - start,
                              len(work.errors) + 1, slot.url, work.errors))
        return False

    def _retry_or_fail(self, work: Work, slot: Slot, wall: float) -> None:
        if len(work.errors) <= self.settings.retries:
            self.queue.put(work)
        else:
            self.record(JobResult(work.job, FAILED, None, [], wall, len(work.errors), slot.url, work.errors))
        print(f"[batch] job {work.job.name}: {shown(work.errors[-1], limit=300)}", flush=True)
