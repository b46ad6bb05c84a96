"""One real ComfyUI server on a loopback port for every server test of the session."""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import requests

from rectiflow.testing.comfy_host import comfyui_path
from rectiflow.headless import server as headless_server


@pytest.fixture(scope="session")
def server():
    scratch = Path(tempfile.mkdtemp(prefix="rectiflow-server-test-"))
    process, base_url = headless_server.start_server(
        comfyui_path(), sys.executable, log_path=scratch / "server.log",
        extra_args=headless_server.isolated_server_args(scratch))
    try:
        yield base_url
    finally:
        headless_server.stop_server(process)
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session")
def object_info(server):
    return requests.get(f"{server}/object_info", timeout=120).json()
