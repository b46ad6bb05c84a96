"""The same graph and seed give identical PNG bytes, on the shared server and on a freshly started one (no cache
between them): sampling, decoding and saving are deterministic on the CPU."""
from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from rectiflow.headless import client, convert
from rectiflow.headless import server as headless_server
from rectiflow.testing.comfy_host import REPO, comfyui_path

pytestmark = pytest.mark.server


def test_same_graph_and_seed_give_identical_png_bytes_across_restarts(server, object_info, tmp_path):
    workflow = json.loads((REPO / "workflows" / "digits_quickstart.json").read_text())
    api = convert.ui_to_api(workflow, object_info)
    first = client.run_prompt(server, api, tmp_path / "first", timeout=300)
    scratch = Path(tempfile.mkdtemp(prefix="rectiflow-determinism-"))
    process, fresh = headless_server.start_server(comfyui_path(), sys.executable, log_path=scratch / "server.log",
                                                  extra_args=headless_server.isolated_server_args(scratch))
    try:
        second = client.run_prompt(fresh, api, tmp_path / "second", timeout=300)
    finally:
        headless_server.stop_server(process)
        shutil.rmtree(scratch, ignore_errors=True)
    assert len(first) == len(second) == 1 and first[0].suffix == ".png"
    assert first[0].read_bytes() == second[0].read_bytes()
