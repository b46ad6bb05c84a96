"""RectiFlow Sampler RF-Solver Edit on the digits model in the real ComfyUI: a generated 3 edited toward 8 with
RF-Solver and FireFlow (arXiv 2411.04746, 2412.07517), the round trip with equal branches, determinism, progress,
the warning on a model without Flux/SD3 blocks, and bad input named."""
import logging

import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from digits_helpers import accuracy, digits_model, empty_latent, labels_cond

BATCH = 12
STEPS = 28
pytestmark = pytest.mark.usefixtures("one_thread")


def sigmas(steps: int = STEPS):
    return run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=steps, denoise=1.0)[0]


@pytest.fixture(scope="module")
def threes(comfy) -> dict:
    guider = run_node("CFGGuider", model=digits_model(), positive=labels_cond("3"), negative=labels_cond("null"),
                      cfg=3.0)[0]
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=1)[0], guider=guider,
                    sampler=run_node("RectiFlowSamplerEuler")[0], sigmas=sigmas(32),
                    latent_image=empty_latent(BATCH))[0]


def edit_guider(source="3", target="8", source_cfg=1.5, target_cfg=3.0):
    return run_node("RectiFlowEditGuider", model=digits_model(), source=labels_cond(source),
                    target=labels_cond(target), negative=labels_cond("null"), source_cfg=source_cfg,
                    target_cfg=target_cfg)[0]


def edit(latent: dict, solver="rf_solver", inject_steps=0, blocks="late", guider=None, steps=STEPS) -> torch.Tensor:
    sampler = run_node("RectiFlowSamplerRFSolverEdit", solver=solver, inject_steps=inject_steps, blocks=blocks)[0]
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=5)[0],
                    guider=guider or edit_guider(), sampler=sampler, sigmas=sigmas(steps),
                    latent_image=latent)[0]["samples"]


@pytest.mark.parametrize("solver", ["rf_solver", "fireflow"])
def test_a_three_edited_toward_eight_reads_eight(threes, solver):
    assert accuracy(edit(threes, solver), [8]) >= 0.75


@pytest.mark.parametrize("solver", ["rf_solver", "fireflow"])
def test_equal_branches_return_the_source(threes, solver):
    """Inversion then regeneration with one guided velocity: the identity up to the solver's error (measured max
    error at 28 steps: rf_solver 0.024, fireflow 0.026, on latents in [-1, 1])."""
    out = edit(threes, solver, guider=edit_guider("3", "3", 3.0, 3.0))
    assert (out - threes["samples"]).abs().max().item() < 0.04


@pytest.mark.parametrize("solver", ["rf_solver", "fireflow"])
def test_the_same_input_gives_the_same_edit(threes, solver):
    assert torch.equal(edit(threes, solver, steps=8), edit(threes, solver, steps=8))


def test_value_sharing_on_a_unet_is_skipped_with_a_clear_warning(threes, caplog):
    with caplog.at_level(logging.WARNING):
        shared = edit(threes, inject_steps=3, steps=8)
    assert ("RectiFlow Sampler RF-Solver Edit: inject_steps 3 asks for value sharing, which needs Flux or SD3 "
            "attention blocks; this model (") in caplog.text
    assert "runs without it" in caplog.text
    assert torch.equal(shared, edit(threes, inject_steps=0, steps=8))


@pytest.mark.parametrize("solver, total", [("rf_solver", 16), ("fireflow", 16)])
def test_progress_is_reported_for_both_passes(threes, solver, total):
    import comfy.utils

    steps = []
    comfy.utils.set_progress_bar_global_hook(lambda value, t, preview, node_id=None: steps.append((value, t)))
    try:
        edit(threes, solver, steps=8)
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
    assert steps[-total:] == [(i + 1, total) for i in range(total)]


def test_a_plain_guider_is_refused_by_name(threes):
    cfg = run_node("CFGGuider", model=digits_model(), positive=labels_cond("8"), negative=labels_cond("null"),
                   cfg=3.0)[0]
    with pytest.raises(ValueError, match="guider: RectiFlow Sampler RF-Solver Edit needs the RectiFlow Edit Guider"):
        edit(threes, guider=cfg, steps=4)


def test_an_empty_latent_is_refused(comfy):
    with pytest.raises(ValueError, match="latent_image: .* expected the source image's latent"):
        edit(empty_latent(2), steps=4)


def test_a_latent_with_the_wrong_channels_is_refused(comfy):
    with pytest.raises(ValueError, match=r"latent_image: expected a latent with 1 channels .* \[2, 4, 16, 16\]"):
        edit({"samples": torch.ones(2, 4, 16, 16)}, steps=4)


@pytest.mark.parametrize("inputs, name", [({"solver": "euler"}, "solver"), ({"blocks": "some"}, "blocks"),
                                          ({"inject_steps": -1}, "inject_steps")])
def test_bad_parameters_are_named(comfy, inputs, name):
    with pytest.raises(ValueError, match=name):
        run_node("RectiFlowSamplerRFSolverEdit", **{"solver": "rf_solver", "inject_steps": 2, "blocks": "late",
                                                    **inputs})


def test_an_interrupt_stops_the_edit(threes):
    import comfy.model_management

    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            edit(threes, steps=4)
    finally:
        comfy.model_management.interrupt_current_processing(False)
