"""The shipped reflowed digits models (scripts/train_reflow.py): their metadata says what they are, the loader lists
them after the teacher and loads them unchanged, and they draw the requested digits in few steps at cfg 1."""
import hashlib

import pytest
import torch
from safetensors.torch import load_file, safe_open

from rectiflow.testing.comfy_host import REPO, pack_module, run_node
from digits_helpers import accuracy, empty_latent, labels_cond

WEIGHTS = REPO / "weights"
TEACHER = "digits_rf.safetensors"
STUDENTS = {"digits_rf_2rf.safetensors": ("2-rectified flow", TEACHER, "2"),
            "digits_rf_1step.safetensors": ("one-step distillation", "digits_rf_2rf.safetensors", "1")}
LABELS = list(range(10))


def metadata(name: str) -> dict:
    with safe_open(str(WEIGHTS / name), framework="pt") as f:
        return f.metadata()


@pytest.mark.parametrize("name", list(STUDENTS))
def test_metadata_names_the_student_its_teacher_and_how_to_sample_it(name):
    meta, teacher_meta = metadata(name), metadata(TEACHER)
    stage, teacher, steps = STUDENTS[name]
    for key in ("format", "format_version", "kind", "architecture", "time_convention", "parameterization", "data"):
        assert meta[key] == teacher_meta[key], key
    assert stage in meta["distillation"]
    assert meta["teacher"] == teacher
    assert meta["teacher_sha256"] == hashlib.sha256((WEIGHTS / teacher).read_bytes()).hexdigest()
    assert meta["recommended_steps"] == steps and meta["recommended_cfg"] == "1"
    assert "baked in" in meta["guidance"] and "2405.20320" in meta["papers"]


def test_loader_lists_the_students_after_the_shipped_teacher(comfy):
    options = pack_module("nodes.digits").available_checkpoints()
    assert options[0] == TEACHER
    assert set(STUDENTS) <= set(options)
    assert not any(o.startswith("digits_classifier") for o in options)


@pytest.mark.parametrize("name", list(STUDENTS))
def test_loader_loads_the_student_weights_unchanged(comfy, name):
    model = run_node("RectiFlowDigitsModelLoader", model_name=name)[0]
    loaded = model.model.diffusion_model.state_dict()
    for key, tensor in load_file(str(WEIGHTS / name)).items():
        torch.testing.assert_close(loaded[key].float(), tensor.float(), rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("name, steps, floor", [("digits_rf_1step.safetensors", 1, 0.9),
                                                ("digits_rf_2rf.safetensors", 2, 0.9)])
def test_student_draws_the_requested_digits_at_its_recommended_steps(comfy, name, steps, floor):
    model = run_node("RectiFlowDigitsModelLoader", model_name=name)[0]
    guider = run_node("CFGGuider", model=model, positive=labels_cond("0 1 2 3 4 5 6 7 8 9"),
                      negative=labels_cond("null"), cfg=1.0)[0]
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=steps, denoise=1.0)[0]
    samples = run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=11)[0], guider=guider,
                       sampler=run_node("RectiFlowSamplerEuler")[0], sigmas=sigmas,
                       latent_image=empty_latent(100))[0]["samples"]
    assert accuracy(samples, LABELS) >= floor
