"""Bad input to the digits nodes gets an error that names the input and what was expected."""
import pytest
import torch
from safetensors.torch import save_file

from rectiflow.testing.comfy_host import REPO, run_node


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


MODEL_FOLDER = "rectiflow_digits"


@pytest.fixture
def model_folder(comfy, tmp_path):
    """A user folder registered under ComfyUI's rectiflow_digits model folder, removed afterwards."""
    import folder_paths

    folder = tmp_path / "user_models"
    folder.mkdir()
    folder_paths.add_model_folder_path(MODEL_FOLDER, str(folder))
    yield folder
    folder_paths.folder_names_and_paths[MODEL_FOLDER][0].remove(str(folder))


def load(name):
    return run_node("RectiFlowDigitsModelLoader", model_name=name)


def shipped_metadata(**changes) -> dict:
    from safetensors import safe_open

    with safe_open(str(REPO / "weights" / "digits_rf.safetensors"), framework="pt") as f:
        return {**f.metadata(), **changes}


def shipped_weights() -> dict:
    from safetensors.torch import load_file

    return load_file(str(REPO / "weights" / "digits_rf.safetensors"))


def test_user_checkpoint_in_the_model_folder_loads(model_folder):
    save_file(shipped_weights(), str(model_folder / "mine.safetensors"), metadata=shipped_metadata())
    assert load("mine.safetensors")[0].model.diffusion_model is not None


@pytest.mark.parametrize("name", ["/etc/passwd", "../../weights/digits_rf.safetensors", "~/x.safetensors",
                                  "nowhere.safetensors", "\ud800"])
def test_names_outside_the_model_folder_are_refused(comfy, name):
    with pytest.raises(ValueError, match=r"model_name: .* is not a digits checkpoint in ComfyUI's 'rectiflow_digits'"):
        load(name)


def test_message_quoting_a_lone_surrogate_is_ascii(comfy):
    with pytest.raises(ValueError) as err:
        load("\ud800.safetensors")
    str(err.value).encode("ascii")
    assert "\\ud800" in str(err.value)


def test_custom_path_is_not_an_input(comfy):
    schema = comfy.NODE_CLASS_MAPPINGS["RectiFlowDigitsModelLoader"].INPUT_TYPES()
    assert set(schema["required"]) == {"model_name"} and not schema.get("optional")


def test_file_that_is_not_ours(model_folder):
    save_file({"weight": torch.zeros(3)}, str(model_folder / "other.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match="model_name: 'other.safetensors' is not a RectiFlow digits flow checkpoint"):
        load("other.safetensors")


def test_corrupt_file(model_folder):
    (model_folder / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError, match="model_name: 'broken.safetensors' is corrupt"):
        load("broken.safetensors")


def test_truncated_copy_of_the_real_file(model_folder):
    data = (REPO / "weights" / "digits_rf.safetensors").read_bytes()
    (model_folder / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="model_name: 'truncated.safetensors' is corrupt"):
        load("truncated.safetensors")


def test_pickle_is_never_listed_or_loaded(model_folder):
    (model_folder / "model.ckpt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ValueError, match="model_name: 'model.ckpt' is not a digits checkpoint"):
        load("model.ckpt")


def test_wrong_architecture_in_our_format(model_folder):
    save_file({"stem.weight": torch.zeros(8, 1, 3, 3)}, str(model_folder / "shrunk.safetensors"),
              metadata={"format": "rectiflow.digits", "kind": "flow", "architecture": "{}"})
    with pytest.raises(ValueError, match="model_name: 'shrunk.safetensors' does not match the digits architecture"):
        load("shrunk.safetensors")


@pytest.mark.parametrize("architecture, why", [
    ('{"base_channels": 16384}', "out of bounds"),
    ('{"channel_mults": [1, 2, 2, 2, 2, 2]}', "out of bounds"),
    ('{"emb_dim": -4}', "out of bounds"),
    ('{"base_channels": 12}', "out of bounds"),
    ('{"unknown_key": 1}', "unusable"),
    ("not json", "unusable"),
    ("[1, 2]", "unusable"),
])
def test_architecture_metadata_is_bounded_before_building(model_folder, architecture, why):
    path = model_folder / "odd.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata=shipped_metadata(architecture=architecture))
    with pytest.raises(ValueError, match=rf"model_name: 'odd.safetensors' has (unusable )?architecture metadata"):
        load("odd.safetensors")
    with pytest.raises(ValueError, match=why):
        load("odd.safetensors")


def test_nan_weights_are_refused(model_folder):
    weights = shipped_weights()
    weights["stem.weight"] = weights["stem.weight"].clone()
    weights["stem.weight"][0, 0, 0, 0] = float("nan")
    save_file(weights, str(model_folder / "nan.safetensors"), metadata=shipped_metadata())
    with pytest.raises(ValueError, match="model_name: 'nan.safetensors' holds non-finite weights .* 'stem.weight'"):
        load("nan.safetensors")


@pytest.mark.parametrize("text", ["\ud800", "3 \udfff", "\x00", "7" * 10_000, "\u202e9", "1 " * 5000])
def test_label_messages_are_ascii(comfy, text):
    with pytest.raises(ValueError) as err:
        run_node("RectiFlowDigitsLabel", labels=text)
    message = str(err.value)
    message.encode("ascii")
    assert message.startswith("labels: ") and len(message) < 300
