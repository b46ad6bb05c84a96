"""The batch manifest: one JSON line per finished job (done or failed), appended and flushed as it finishes.

A line holds the job's index, its overrides, status ("done" or "failed"), prompt id, output files (relative to
the batch folder), wall time, attempts, the server and the errors. A batch run again with the same folder skips
the jobs whose last line says "done" and runs the others; a torn last line (a killed runner) is ignored.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError, shown
from .sweep import Job

MANIFEST_NAME = "manifest.jsonl"
DONE, FAILED = "done", "failed"


@dataclass
class JobResult:
    """What one job came to, after its last attempt."""
    job: Job
    status: str
    prompt_id: str | None = None
    outputs: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    attempts: int = 0
    server: str | None = None
    errors: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {"job": self.job.index, "overrides": self.job.overrides, "status": self.status,
                "prompt_id": self.prompt_id, "outputs": self.outputs, "wall_s": round(self.wall_s, 3),
                "attempts": self.attempts, "server": self.server, "errors": self.errors}


def read_records(path: Path) -> list[dict]:
    """Every complete record in the manifest (a line that is not a JSON object is skipped)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UsageError(f"cannot read the manifest {shown(str(path))}: {exc.strerror}") from None
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


class Manifest:
    """Append-only JSONL, safe to write from several threads."""

    def __init__(self, folder: Path):
        self.path = folder / MANIFEST_NAME
        self._lock = threading.Lock()

    def done_keys(self) -> set[str]:
        """The overrides (canonical JSON) of every job whose last record says done."""
        last: dict[str, str] = {}
        for record in read_records(self.path):
            overrides = record.get("overrides")
            if isinstance(overrides, dict):
                last[json.dumps(overrides, sort_keys=True, ensure_ascii=True)] = record.get("status")
        return {key for key, status in last.items() if status == DONE}

    def append(self, result: JobResult) -> None:
        line = json.dumps(result.record(), ensure_ascii=True) + "\n"
        with self._lock:
            self._end_torn_line()
            with open(self.path, "a", encoding="utf-8") as stream:
                stream.write(line)
                stream.flush()
                os.fsync(stream.fileno())

    def _end_torn_line(self) -> None:
        """A runner killed mid-write leaves a line without its newline: end it so the next record stands alone."""
        try:
            with open(self.path, "rb") as stream:
                stream.seek(-1, os.SEEK_END)
                torn = stream.read(1) != b"\n"
        except (FileNotFoundError, OSError):
            return
        if torn:
            with open(self.path, "a", encoding="utf-8") as stream:
                stream.write("\n")
