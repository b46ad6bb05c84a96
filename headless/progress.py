"""Progress of a whole batch: jobs done, failed and left, and the rate; one line every few seconds."""
from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from .errors import shown

PRINT_EVERY = 2.0


class BatchProgress:
    """Counts finished jobs (thread-safe) and prints a summary line at most every PRINT_EVERY seconds."""

    def __init__(self, total: int, skipped: int = 0, stream: TextIO | None = None):
        self.total = total
        self.skipped = skipped
        self.done = 0
        self.failed = 0
        self.stream = stream or sys.stdout
        self.start = time.monotonic()
        self._printed = 0.0
        self._lock = threading.Lock()

    @property
    def left(self) -> int:
        return self.total - self.skipped - self.done - self.failed

    def rate(self) -> float:
        """Jobs finished per minute in this run."""
        elapsed = time.monotonic() - self.start
        return 60.0 * (self.done + self.failed) / elapsed if elapsed > 0 else 0.0

    def finished(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.done += 1
            else:
                self.failed += 1

    def line(self) -> str:
        skipped = f" ({self.skipped} done before)" if self.skipped else ""
        return (f"[batch] {self.done} done, {self.failed} failed, {self.left} left of {self.total}{skipped}; "
                f"{self.rate():.1f} jobs/min, {time.monotonic() - self.start:.0f} s")

    def note(self, text: str) -> None:
        self.stream.write(f"[batch] {shown(text, limit=400)}\n")
        self.stream.flush()

    def tick(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._printed >= PRINT_EVERY:
            self._printed = now
            self.stream.write(self.line() + "\n")
            self.stream.flush()
