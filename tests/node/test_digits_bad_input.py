"""Bad input to the digits nodes gets an error that names the input and what was expected."""
import pytest
import torch
from safetensors.torch import save_file

from rectiflow.testing.comfy_host import run_node


@pytest.mark.parametrize("labels, bad", [("12", "'12'"), ("3 -1", "'-1'"), ("seven", "'seven'")])
def test_label_outside_0_to_9(comfy, labels, bad):
    with pytest.raises(ValueError, match=rf"labels: {bad} is not a digit label; expected integers 0-9 or 'null'"):
        run_node("RectiFlowDigitsLabel", labels=labels)


def test_empty_labels(comfy):
    with pytest.raises(ValueError, match="labels: expected at least one digit"):
        run_node("RectiFlowDigitsLabel", labels="  ")


def test_null_label_is_the_last_one_hot_slot(comfy):
    cond = run_node("RectiFlowDigitsLabel", labels="null 4")[0]
    context = cond[0][0]
    assert context.shape == (2, 1, 11)
    assert context[0, 0].argmax() == 10 and context[1, 0].argmax() == 4


@pytest.mark.parametrize("shape", [(2, 4, 16, 16), (2, 1, 32, 32), (1, 16, 16)])
def test_wrong_latent_shape(comfy, shape):
    with pytest.raises(ValueError, match=r"samples: expected a digits latent of shape \[batch, 1, 16, 16\]"):
        run_node("RectiFlowDigitsLatentToImage", samples={"samples": torch.zeros(shape)}, scale=1, grid_columns=0)


def load(path):
    return run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors", custom_path=str(path))


def test_missing_file(comfy, tmp_path):
    with pytest.raises(ValueError, match="custom_path: model file .*nowhere.safetensors' does not exist"):
        load(tmp_path / "nowhere.safetensors")


def test_file_that_is_not_ours(comfy, tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="custom_path: 'other.safetensors' is not a RectiFlow digits flow checkpoint"):
        load(path)


def test_corrupt_file(comfy, tmp_path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError, match="custom_path: 'broken.safetensors' is corrupt"):
        load(path)


def test_truncated_copy_of_the_real_file(comfy, tmp_path):
    from rectiflow.testing.comfy_host import REPO

    data = (REPO / "weights" / "digits_rf.safetensors").read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="custom_path: 'truncated.safetensors' is corrupt"):
        load(path)


def test_pickle_is_never_loaded(comfy, tmp_path):
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ValueError, match="custom_path: 'model.ckpt' is not a .safetensors file"):
        load(path)


def test_wrong_architecture_in_our_format(comfy, tmp_path):
    path = tmp_path / "shrunk.safetensors"
    save_file({"stem.weight": torch.zeros(8, 1, 3, 3)}, str(path),
              metadata={"format": "rectiflow.digits", "kind": "flow", "architecture": "{}"})
    with pytest.raises(ValueError, match="custom_path: 'shrunk.safetensors' does not match the digits architecture"):
        load(path)
