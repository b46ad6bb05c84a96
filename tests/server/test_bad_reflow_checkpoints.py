"""Bad checkpoints handed to the reflow loaders through a real server: each prompt fails with an error naming the
input and the expected layout, the files are left as they were, and the server keeps running prompts.

A second server is started here with an extra model-paths file, so the test's files sit in a scratch
diffusion_models folder and never in the host's models folder.
"""
from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import requests
import torch
from safetensors.torch import save_file

from rectiflow.headless import client
from rectiflow.headless import server as headless_server
from rectiflow.testing.comfy_host import comfyui_path

pytestmark = pytest.mark.server

WAIT = 120.0


def write_bad_files(folder: Path) -> dict[str, str]:
    """file name -> a phrase the loader's error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corrupt.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{\"a\":1}" + bytes(64))
    save_file({"weight": torch.ones(3, 3)}, str(folder / "not_a_unet.safetensors"))
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.ones(8, 4, 3, 3)},
              str(folder / "ldm_checkpoint.safetensors"))
    torch.save({"conv_in.weight": torch.ones(1)}, str(folder / "pickled.ckpt"))
    return {"corrupt.safetensors": "unet", "not_a_unet.safetensors": "unet",
            "ldm_checkpoint.safetensors": "unet", "pickled.ckpt": "rectiflow-convert-ckpt"}


@pytest.fixture(scope="module")
def scratch_server():
    scratch = Path(tempfile.mkdtemp(prefix="rectiflow-bad-ckpt-"))
    models = scratch / "models"
    expected = write_bad_files(models / "diffusion_models")
    config = scratch / "extra_model_paths.yaml"
    config.write_text(f"rectiflow_test:\n    base_path: {models}\n    diffusion_models: diffusion_models\n")
    process, base_url = headless_server.start_server(
        comfyui_path(), sys.executable, log_path=scratch / "server.log",
        extra_args=[*headless_server.isolated_server_args(scratch), "--extra-model-paths-config", str(config)])
    try:
        yield base_url, models / "diffusion_models", expected
    finally:
        headless_server.stop_server(process)
        shutil.rmtree(scratch, ignore_errors=True)


def loader_prompt(node: str, unet: str, **inputs) -> dict:
    """The loader feeding PreviewAny (an output node), so the loader runs."""
    return {"1": {"class_type": node, "inputs": {"unet": unet, **inputs}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


def error_of(base_url: str, prompt: dict) -> str:
    answer = requests.post(f"{base_url}/prompt", json={"prompt": prompt, "client_id": "bad-ckpt"}, timeout=30)
    assert answer.status_code == 200, answer.text
    entry = client.fetch_history(base_url, answer.json()["prompt_id"], wait=WAIT)
    assert entry["status"]["status_str"] == "error"
    errors = [data for kind, data in entry["status"]["messages"] if kind == "execution_error"]
    return errors[0]["exception_message"]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


LOADERS = [("RectiFlowLoadInstaFlow", {"family": "instaflow", "variant": ""}),
           ("RectiFlowLoadPeRFlow", {"base": "sd15", "variant": ""}),
           ("RectiFlowLoadRectifiedDiffusion", {"checkpoint": "rd"})]


def test_bad_checkpoints_fail_by_name_and_the_server_stays_up(scratch_server):
    base_url, folder, expected = scratch_server
    info = requests.get(f"{base_url}/object_info/RectiFlowLoadInstaFlow", timeout=60).json()
    spec = info["RectiFlowLoadInstaFlow"]["input"]["required"]["unet"]
    listed = spec[1]["options"] if spec[0] == "COMBO" else spec[0]   # V3 combos: ["COMBO", {"options": [...]}]
    assert set(expected) <= set(listed), listed
    before = digests(folder)
    for node, options in LOADERS:
        schema = requests.get(f"{base_url}/object_info/{node}", timeout=60).json()[node]["input"]["required"]
        options = {k: v for k, v in options.items() if k in schema}
        for name, phrase in expected.items():
            message = error_of(base_url, loader_prompt(node, name, **options))
            assert phrase in message and name in message, (node, name, message)
            assert len(message) < 2000
    assert digests(folder) == before
    queue = requests.get(f"{base_url}/queue", timeout=30).json()
    assert queue["queue_running"] == [] and queue["queue_pending"] == []
    # still serving: a graph that runs
    ok = {"1": {"class_type": "RectiFlowDigitsEmptyLatent", "inputs": {"batch_size": 1}},
          "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    answer = requests.post(f"{base_url}/prompt", json={"prompt": ok, "client_id": "bad-ckpt"}, timeout=30)
    assert client.fetch_history(base_url, answer.json()["prompt_id"], wait=WAIT)["status"]["status_str"] == "success"
