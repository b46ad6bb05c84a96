"""Editing nodes in the real ComfyUI on the digits model: a generated 3 edited toward 8 with SamplerCustomAdvanced,
the RectiFlow Edit Guider and the FlowEdit / RF-Inversion samplers; identity, determinism and bad input."""
import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from digits_helpers import accuracy, digits_model, empty_latent, labels_cond

BATCH = 12
STEPS = 28
FLOWEDIT = {"n_max": 16, "n_min": 0, "n_avg": 1, "seed": 0}
RF_INVERSION = {"gamma": 0.5, "eta": 0.9, "start_step": 0, "stop_step": 7}
pytestmark = pytest.mark.usefixtures("one_thread")


def sigmas(steps: int = STEPS):
    return run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=steps, denoise=1.0)[0]


def generate(label: str, seed: int) -> dict:
    guider = run_node("CFGGuider", model=digits_model(), positive=labels_cond(label), negative=labels_cond("null"),
                      cfg=3.0)[0]
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=seed)[0], guider=guider,
                    sampler=run_node("RectiFlowSamplerEuler")[0], sigmas=sigmas(32), latent_image=empty_latent(BATCH))[0]


@pytest.fixture(scope="module")
def threes(comfy) -> dict:
    return generate("3", seed=1)


def edit_guider(source="3", target="8", source_cfg=1.5, target_cfg=3.0, model=None):
    return run_node("RectiFlowEditGuider", model=model or digits_model(), source=labels_cond(source),
                    target=labels_cond(target), negative=labels_cond("null"), source_cfg=source_cfg,
                    target_cfg=target_cfg)[0]


def sampler(node: str, **changes):
    settings = FLOWEDIT if node == "RectiFlowSamplerFlowEdit" else RF_INVERSION
    return run_node(node, **{**settings, **changes})[0]


def edit(latent: dict, node: str, guider=None, noise_seed: int = 5, **changes) -> torch.Tensor:
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=noise_seed)[0],
                    guider=guider or edit_guider(), sampler=sampler(node, **changes), sigmas=sigmas(),
                    latent_image=latent)[0]["samples"]


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b) ** 2).mean().item()


@pytest.mark.parametrize("node", ["RectiFlowSamplerFlowEdit", "RectiFlowSamplerRFInversion"])
def test_a_three_edited_toward_eight_reads_eight_and_stays_closer_than_a_fresh_eight(threes, node):
    assert accuracy(threes["samples"], [3]) >= 0.9
    edited = edit(threes, node)
    fresh = generate("8", seed=2)["samples"]
    assert accuracy(edited, [8]) >= 0.75
    assert mse(edited, threes["samples"]) < 0.8 * mse(fresh, threes["samples"])


def test_flowedit_with_equal_source_and_target_returns_the_source(threes):
    out = edit(threes, "RectiFlowSamplerFlowEdit", edit_guider("3", "3", 3.0, 3.0))
    assert (out - threes["samples"]).abs().max().item() < 1e-4


def test_rf_inversion_without_control_regenerates_like_euler_inversion(threes):
    """gamma = eta = 0 with equal branches is RectiFlow Invert followed by sampling from the inverted latent."""
    guider = edit_guider("3", "3", 3.0, 3.0)
    out = edit(threes, "RectiFlowSamplerRFInversion", guider, gamma=0.0, eta=0.0)
    cfg = run_node("CFGGuider", model=digits_model(), positive=labels_cond("3"), negative=labels_cond("null"),
                   cfg=3.0)[0]
    euler = run_node("RectiFlowSamplerEuler")[0]
    _, noise = run_node("RectiFlowInvert", guider=cfg, sampler=euler, sigmas=sigmas(), latent_image=threes)
    back = run_node("SamplerCustomAdvanced", noise=noise, guider=cfg, sampler=euler, sigmas=sigmas(),
                    latent_image=threes)[0]["samples"]
    assert (out - back).abs().max().item() < 1e-3


@pytest.mark.parametrize("node", ["RectiFlowSamplerFlowEdit", "RectiFlowSamplerRFInversion"])
def test_the_same_seed_gives_the_same_edit(threes, node):
    assert torch.equal(edit(threes, node), edit(threes, node))


def test_another_flowedit_seed_gives_another_edit(threes):
    assert not torch.equal(edit(threes, "RectiFlowSamplerFlowEdit"), edit(threes, "RectiFlowSamplerFlowEdit", seed=1))


def test_a_plain_guider_is_refused_by_name(threes):
    cfg = run_node("CFGGuider", model=digits_model(), positive=labels_cond("8"), negative=labels_cond("null"),
                   cfg=3.0)[0]
    with pytest.raises(ValueError, match="guider: RectiFlow Sampler FlowEdit needs the RectiFlow Edit Guider"):
        edit(threes, "RectiFlowSamplerFlowEdit", cfg)


def test_an_empty_latent_is_refused(comfy):
    with pytest.raises(ValueError, match="latent_image: .* expected the source image's latent"):
        edit(empty_latent(2), "RectiFlowSamplerFlowEdit")


def test_a_latent_with_the_wrong_channels_is_refused(comfy):
    with pytest.raises(ValueError, match=r"latent_image: expected a latent with 1 channels .* \[2, 4, 16, 16\]"):
        edit({"samples": torch.ones(2, 4, 16, 16)}, "RectiFlowSamplerRFInversion")


def test_rf_inversion_refuses_disabled_noise(threes):
    with pytest.raises(ValueError, match="noise: .* connect RandomNoise"):
        run_node("SamplerCustomAdvanced", noise=run_node("DisableNoise")[0], guider=edit_guider(),
                 sampler=sampler("RectiFlowSamplerRFInversion"), sigmas=sigmas(), latent_image=threes)


def test_non_flow_models_are_refused(comfy):
    eps_model = run_node("ModelSamplingDiscrete", model=digits_model(), sampling="eps", zsnr=False)[0]
    with pytest.raises(ValueError, match=r"model: the edit guider needs a flow \(CONST\) model"):
        edit_guider(model=eps_model)


@pytest.mark.parametrize("name", ["source", "target"])
def test_missing_conditioning_is_named(comfy, name):
    inputs = {"model": digits_model(), "source": labels_cond("3"), "target": labels_cond("8"),
              "negative": labels_cond("null"), "source_cfg": 1.0, "target_cfg": 1.0, name: []}
    with pytest.raises(ValueError, match=f"{name}: expected CONDITIONING"):
        run_node("RectiFlowEditGuider", **inputs)


@pytest.mark.parametrize("node, inputs, name", [
    ("RectiFlowEditGuider", {"source_cfg": float("nan")}, "source_cfg"),
    ("RectiFlowSamplerRFInversion", {**RF_INVERSION, "gamma": float("nan")}, "gamma"),
    ("RectiFlowSamplerFlowEdit", {**FLOWEDIT, "n_min": 20}, "n_min"),
])
def test_bad_parameters_are_named(comfy, node, inputs, name):
    if node == "RectiFlowEditGuider":
        inputs = {"model": digits_model(), "source": labels_cond("3"), "target": labels_cond("8"),
                  "negative": labels_cond("null"), "source_cfg": 1.0, "target_cfg": 1.0, **inputs}
    with pytest.raises(ValueError, match=name):
        run_node(node, **inputs)


@pytest.mark.parametrize("node, total", [("RectiFlowSamplerFlowEdit", STEPS), ("RectiFlowSamplerRFInversion", 2 * STEPS)])
def test_progress_is_reported_every_step(threes, node, total):
    import comfy.utils

    steps = []
    comfy.utils.set_progress_bar_global_hook(lambda value, t, preview, node_id=None: steps.append((value, t)))
    try:
        edit(threes, node)
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
    assert steps[-total:] == [(i + 1, total) for i in range(total)]


def test_an_interrupt_stops_the_edit(threes):
    import comfy.model_management

    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            edit(threes, "RectiFlowSamplerFlowEdit")
    finally:
        comfy.model_management.interrupt_current_processing(False)


def test_rf_inversion_refuses_flows_whose_velocity_at_zero_is_not_minus_x(threes):
    import copy

    model = digits_model().clone()
    sampling = copy.copy(model.get_model_object("model_sampling"))
    sampling.velocity_at_zero_is_minus_x = False   # as PeRFlow's windowed sampling declares
    model.add_object_patch("model_sampling", sampling)
    with pytest.raises(ValueError, match="model: this flow's velocity at sigma 0 is not -x"):
        edit(threes, "RectiFlowSamplerRFInversion", edit_guider(model=model))


def test_a_non_finite_edit_state_stops_naming_node_step_and_sigma(comfy):
    from rectiflow.testing.comfy_host import pack_module

    editing = pack_module("nodes.editing")
    report = editing.step_reporter("RectiFlow Sampler FlowEdit", None, 10)
    finite = torch.zeros(1, 1, 4, 4)
    report(2, finite, finite, 0.5)
    with pytest.raises(pack_module("nodes.errors").NonFiniteLatentError,
                       match=r"^RectiFlow Sampler FlowEdit: step 3 at sigma 0\.4: the edited latent contains NaN"):
        report(3, torch.full((1, 1, 4, 4), float("nan")), finite, 0.4)
