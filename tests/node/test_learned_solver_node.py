"""RectiFlow Learn Solver in the real ComfyUI on the digits model: outputs, cache, sigmas check and bad input."""
import time

import pytest
import torch

from rectiflow.testing.comfy_host import pack_module, run_node
from digits_helpers import DEFAULT_CFG, digits_model, empty_latent, labels_cond

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"noise_seed": 3, "nfe": 3, "iterations": 6, "train_batches": 1, "reference_steps": 8}


def guider():
    return run_node("CFGGuider", model=digits_model(), positive=labels_cond("0 1 2 3 4 5 6 7 8 9"),
                    negative=labels_cond("null"), cfg=DEFAULT_CFG)[0]


def learn(g=None, **changes):
    inputs = {"guider": g or guider(), "latent_image": empty_latent(10), **TINY, **changes}
    return run_node("RectiFlowLearnSolver", **inputs)


@pytest.fixture(scope="module")
def shared_guider(comfy):
    return guider()


@pytest.fixture(scope="module")
def learned(shared_guider):
    with torch.inference_mode():  # as ComfyUI's executor runs every node
        return learn(shared_guider)


def sample(sampler, sigmas, g=None):
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=5)[0], guider=g or guider(),
                    sampler=sampler, sigmas=sigmas, latent_image=empty_latent(10))[0]["samples"]


def test_outputs_a_sampler_on_its_own_sigmas_a_report_and_a_plot(learned):
    sampler, sigmas, report, plot = learned
    assert sigmas.shape == (4,) and float(sigmas[0]) == 1.0 and float(sigmas[-1]) == 0.0
    assert bool((sigmas[1:] < sigmas[:-1]).all())
    with torch.inference_mode():
        out = sample(sampler, sigmas)
    assert out.shape == (10, 1, 16, 16) and torch.isfinite(out).all()
    assert "training: 10 trajectories" in report and "validation: 10 held-out trajectories" in report
    assert "best fixed RectiFlow solver" in report
    assert plot.ndim == 4 and plot.shape[0] == 1 and plot.shape[-1] == 3


def test_second_run_with_the_same_inputs_is_cached_and_identical(learned, shared_guider):
    start = time.perf_counter()
    with torch.inference_mode():
        again = learn(shared_guider)
    assert time.perf_counter() - start < 5 and "cached result" in again[2]
    torch.testing.assert_close(again[1], learned[1], rtol=0, atol=0)


def test_learned_sampler_refuses_other_sigmas(learned):
    error = pack_module("samplers.learned").LearnedSigmasError
    other = run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=3, denoise=1.0)[0]
    with pytest.raises(error, match="sigmas: a learned solver runs only on the sigmas it was fitted on"):
        sample(learned[0], other)
    with pytest.raises(error, match="sigmas: increasing sigmas"):
        sample(learned[0], learned[1].flip(0))


@pytest.mark.parametrize("name, value", [("nfe", 0), ("iterations", 0), ("train_batches", 0),
                                         ("reference_steps", 2), ("nfe", 1.5)])
def test_bad_budget_is_refused_by_name(comfy, name, value):
    with pytest.raises(ValueError, match=rf"{name}: expected an integer in"):
        learn(**{name: value})


def test_non_finite_latent_is_refused(comfy):
    latent = {"samples": torch.full((10, 1, 16, 16), float("nan"))}
    with pytest.raises(ValueError, match="latent_image: contains NaN"):
        learn(latent_image=latent)


@pytest.mark.parametrize("shape, message", [((16, 16), "expected a latent batch"),
                                            ((10, 3, 16, 16), "the model could not run on a latent of shape")])
def test_wrong_latent_shape_is_refused(comfy, shape, message):
    with pytest.raises(ValueError, match=f"latent_image: {message}"):
        learn(latent_image={"samples": torch.ones(shape)})


def test_fitting_stops_on_interrupt(comfy):
    import comfy.model_management

    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            learn(noise_seed=11)
    finally:
        comfy.model_management.interrupt_current_processing(False)
