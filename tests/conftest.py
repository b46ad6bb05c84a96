from __future__ import annotations

import contextlib

import pytest
import torch

from rectiflow.testing.comfy_host import boot_comfyui


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
