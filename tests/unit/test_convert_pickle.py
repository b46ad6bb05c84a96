"""rectiflow-convert-ckpt: pickles become safetensors through the restricted unpickler; code never runs."""
import os
import pickle
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from rectiflow.models.convert_pickle import ConversionRefused, convert, main


def tensors() -> dict:
    g = torch.Generator().manual_seed(0)
    return {"conv.weight": torch.randn(4, 3, 3, 3, generator=g), "conv.bias": torch.randn(4, generator=g),
            "emb": torch.randn(5, 2, generator=g).half()}


def test_a_flat_tensor_dict_round_trips_exactly(tmp_path):
    source = tmp_path / "unet.ckpt"
    torch.save(tensors(), source)
    written = convert(source)
    assert written == tmp_path / "unet.safetensors"
    loaded = load_file(written)
    assert loaded.keys() == tensors().keys()
    for name, value in tensors().items():
        assert torch.equal(loaded[name], value) and loaded[name].dtype == value.dtype


def test_a_nested_state_dict_needs_its_key(tmp_path):
    source = tmp_path / "model.ckpt"
    torch.save({"state_dict": tensors(), "epoch": 3}, source)
    with pytest.raises(ConversionRefused, match="--key"):
        convert(source)
    assert load_file(convert(source, key="state_dict"))["conv.bias"].shape == (4,)


class RunsCode:
    """A pickle that would run a command when unpickled (the attack the converter must not fall for)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_refused_and_the_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    source = tmp_path / "evil.ckpt"
    with open(source, "wb") as f:
        pickle.dump({"weight": RunsCode(str(marker))}, f)
    with pytest.raises(ConversionRefused, match="restricted unpickler"):
        convert(source)
    assert not marker.exists() and not (tmp_path / "evil.safetensors").exists()


@pytest.mark.parametrize("payload, message", [
    ({"weight": [1.0, 2.0]}, "expected a tensor"),
    ([torch.zeros(2)], "dict of tensors"),
    ({}, "non-empty"),
])
def test_anything_but_a_flat_tensor_dict_is_refused_by_entry(tmp_path, payload, message):
    source = tmp_path / "odd.ckpt"
    torch.save(payload, source)
    with pytest.raises(ConversionRefused, match=message):
        convert(source)


def test_nothing_is_overwritten(tmp_path):
    source, target = tmp_path / "unet.ckpt", tmp_path / "unet.safetensors"
    torch.save(tensors(), source)
    target.write_bytes(b"the user's file")
    with pytest.raises(ConversionRefused, match="exists"):
        convert(source)
    assert target.read_bytes() == b"the user's file"


def test_the_command_line_reports_and_exits_non_zero_on_refusal(tmp_path, capsys):
    source = tmp_path / "evil.ckpt"
    with open(source, "wb") as f:
        pickle.dump(RunsCode(str(tmp_path / "pwned")), f)
    assert main([str(source)]) == 1
    assert "restricted unpickler" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.ckpt")]) == 2


def test_the_console_script_module_runs(tmp_path):
    source = tmp_path / "unet.pt"
    torch.save(tensors(), source)
    out = subprocess.run([sys.executable, "-P", "-m", "rectiflow.models.convert_pickle", str(source), "-o",
                          str(tmp_path / "u.safetensors")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "u.safetensors").exists()
