from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import requests
import torch

from rectiflow.headless import server as headless_server
from rectiflow.testing.comfy_host import boot_comfyui, comfyui_path


@contextlib.contextmanager
def single_thread():
    """Tiny tensors run fastest on one intra-op thread (and the test machines share two cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def comfy():
    """The real ComfyUI `nodes` module, booted in process on the CPU with RectiFlow loaded."""
    return boot_comfyui()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny-tensor modules run on one intra-op thread (use with pytest.mark.usefixtures)."""
    with single_thread():
        yield


@pytest.fixture(scope="session")
def server():
    """One real ComfyUI server on a loopback port for every server test of the session."""
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
