"""One batch job on one server: queue its prompt, follow it, fetch its output files, save them in its folder.

The fetch (`execute`) and the save (`save_files`) are apart so the Ray backend can run the first on the
server's machine and the second where the batch folder is. Server answers are untrusted: every file record is
checked before download (outputs.safe_file_name / safe_subfolder) and again where it is saved
(outputs.output_target, so nothing is written outside the job's folder).
"""
from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

from .client import (DEFAULT_REQUEST_TIMEOUT, ProgressPrinter, _check_ok, cancel_prompt, connect_websocket,
                     fetch_history, follow_execution, http, queue_prompt)
from .errors import ServerError, UnsafeOutputPath
from .outputs import create_new_file, output_files, output_target, safe_file_name, safe_subfolder

HEALTH_TIMEOUT = 3.0
FileRecord = dict


@dataclass
class Fetched:
    """A finished prompt: its id and its output files as (the server's record, the bytes)."""
    prompt_id: str
    files: list[tuple[FileRecord, bytes]]


def execute(base_url: str, prompt: dict, timeout: float, request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
            on_queued: Callable[[str], None] | None = None) -> Fetched:
    """Run one API prompt to its end and download its output files into memory."""
    client_id = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    with open(os.devnull, "w") as quiet:
        ws = connect_websocket(base_url, client_id, request_timeout)
        try:
            prompt_id = queue_prompt(base_url, prompt, client_id, None, request_timeout)
            if on_queued:
                on_queued(prompt_id)
            try:
                follow_execution(ws, prompt_id, deadline, ProgressPrinter({}, quiet))
            except TimeoutError:
                cancel_prompt(base_url, prompt_id)
                raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout:g} s (--timeout)") from None
        finally:
            ws.close(timeout=1)
    records = list(output_files(fetch_history(base_url, prompt_id, request_timeout)))
    for record in records:
        safe_file_name(record.get("filename"))
        safe_subfolder(record.get("subfolder"))
    return Fetched(prompt_id, [(record, download(base_url, record, request_timeout)) for record in records])


def download(base_url: str, record: FileRecord, request_timeout: float) -> bytes:
    url = f"{base_url}/view"
    params = {"filename": record["filename"], "subfolder": record.get("subfolder") or "",
              "type": record.get("type") if isinstance(record.get("type"), str) else "output"}
    response = http("GET", url, request_timeout, params=params)
    _check_ok(response, url)
    return response.content


def save_files(job_dir: Path, files: list[tuple[FileRecord, bytes]]) -> list[Path]:
    """Write the fetched files into job_dir (checked paths, never over an existing file)."""
    job_dir.mkdir(parents=True, exist_ok=True)
    targets = [output_target(job_dir, record) for record, _ in files]
    saved = []
    for target, (_, content) in zip(targets, files):
        path, stream = create_new_file(target)
        with stream:
            stream.write(content)
        saved.append(path)
    return saved


def fresh_job_dir(job_dir: Path) -> None:
    """Empty the job's folder of what an earlier, unfinished attempt left (a link there is removed, not followed)."""
    if job_dir.is_symlink() or job_dir.is_file():
        job_dir.unlink()
    elif job_dir.exists():
        shutil.rmtree(job_dir)
    job_dir.mkdir(parents=True)


def server_answers(base_url: str, timeout: float = HEALTH_TIMEOUT) -> bool:
    try:
        return requests.get(f"{base_url}/system_stats", timeout=timeout).ok
    except requests.RequestException:
        return False


def is_server_fault(exc: BaseException) -> bool:
    """A failure that says the server is gone or broken (connection lost, no answer), not the job's own."""
    return isinstance(exc, (ServerError, OSError)) and not isinstance(exc, UnsafeOutputPath)
