"""UniEdit-Flow and DNAEdit sampler nodes in the real ComfyUI: the digits model (a generated 3 edited toward 8 at
the official settings), ComfyUI's tiny Flux and SD3 architectures, determinism and bad input."""
import pytest
import torch

from rectiflow.testing.comfy_host import run_node
from digits_helpers import accuracy, digits_model, empty_latent, labels_cond
from test_editing_nodes import edit_guider, generate, mse
from tiny_models import text_conditioning, tiny_flux, tiny_sd3

UNIEDIT = {"omega": 5.0, "alpha": 0.6, "mask": "signed", "mask_patch": 1}   # official, 15 steps, cfg 1 / 1
DNAEDIT = {"start": 13, "mvg": 0.8}                                           # official SD3.5, 40 steps, cfg 1 / 3.5
SETTINGS = {"RectiFlowSamplerUniEdit": (UNIEDIT, 15, (1.0, 1.0)), "RectiFlowSamplerDNAEdit": (DNAEDIT, 40, (1.0, 3.5))}
NODES = list(SETTINGS)
pytestmark = pytest.mark.usefixtures("one_thread")


def sigmas(steps: int, model=None):
    return run_node("BasicScheduler", model=model or digits_model(), scheduler="simple", steps=steps, denoise=1.0)[0]


def sampler(node: str, **changes):
    return run_node(node, **{**SETTINGS[node][0], **changes})[0]


def edit(latent_image: dict, node: str, guider=None, noise_seed: int = 5, steps: int | None = None,
         noise=None, **changes) -> torch.Tensor:
    _, default_steps, (source_cfg, target_cfg) = SETTINGS[node]
    return run_node("SamplerCustomAdvanced", noise=noise or run_node("RandomNoise", noise_seed=noise_seed)[0],
                    guider=guider or edit_guider("3", "8", source_cfg, target_cfg),
                    sampler=sampler(node, **changes), sigmas=sigmas(steps or default_steps),
                    latent_image=latent_image)[0]["samples"]


@pytest.fixture(scope="module")
def threes(comfy) -> dict:
    return generate("3", seed=1)


@pytest.mark.parametrize("node", NODES)
def test_a_three_edited_toward_eight_at_the_official_settings_reads_eight(threes, node):
    assert accuracy(threes["samples"], [3]) >= 0.9
    assert accuracy(edit(threes, node), [8]) >= 0.75


def test_dnaedit_stays_closer_to_the_source_than_a_fresh_eight(threes):
    fresh = generate("8", seed=2)["samples"]
    assert mse(edit(threes, "RectiFlowSamplerDNAEdit"), threes["samples"]) < 0.8 * mse(fresh, threes["samples"])


def test_a_smaller_uniedit_omega_stays_closer_to_the_source(threes):
    """On digits omega 5 edits hard (farther from the 3 than a fresh 8 is); omega 2 keeps more of it."""
    strong = edit(threes, "RectiFlowSamplerUniEdit")
    gentle = edit(threes, "RectiFlowSamplerUniEdit", omega=2.0)
    assert accuracy(gentle, [8]) >= 0.75
    assert mse(gentle, threes["samples"]) < mse(strong, threes["samples"])


def test_uniedit_with_equal_branches_reconstructs_far_better_than_euler_inversion(threes):
    """Uni-Inv's claim: with source = target (g = 0) UniEdit is Uni-Inv then Euler sampling; compare with
    RF-Inversion without control, which is plain Euler inversion then Euler sampling."""
    guider = edit_guider("3", "3", 3.0, 3.0)
    uni = edit(threes, "RectiFlowSamplerUniEdit", guider, alpha=1.0)
    euler = run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=5)[0], guider=guider,
                     sampler=run_node("RectiFlowSamplerRFInversion", gamma=0.0, eta=0.0, start_step=0,
                                      stop_step=0)[0], sigmas=sigmas(15), latent_image=threes)[0]["samples"]
    assert mse(uni, threes["samples"]) < 0.2 * mse(euler, threes["samples"])


def test_dnaedit_with_equal_branches_and_mvg_1_returns_the_source(threes):
    out = edit(threes, "RectiFlowSamplerDNAEdit", edit_guider("3", "3", 3.0, 3.0), start=0, mvg=1.0)
    assert (out - threes["samples"]).abs().max().item() < 1e-4


@pytest.mark.parametrize("node", NODES)
def test_the_same_seed_gives_the_same_edit(threes, node):
    assert torch.equal(edit(threes, node), edit(threes, node))


def test_another_noise_seed_gives_another_dnaedit(threes):
    assert not torch.equal(edit(threes, "RectiFlowSamplerDNAEdit"), edit(threes, "RectiFlowSamplerDNAEdit",
                                                                        noise_seed=6))


@pytest.mark.parametrize("arch", ["flux", "sd3"])
@pytest.mark.parametrize("node", NODES)
def test_tiny_flux_and_sd3_edit_to_a_finite_latent_of_the_source_shape(comfy, arch, node):
    model = tiny_flux() if arch == "flux" else tiny_sd3()
    guider = run_node("RectiFlowEditGuider", model=model, source=text_conditioning(1), target=text_conditioning(2),
                      negative=text_conditioning(3), source_cfg=1.0, target_cfg=3.5)[0]
    source = {"samples": torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))}
    changes = {"mask_patch": 2} if node == "RectiFlowSamplerUniEdit" and arch == "flux" else {}
    steps = 6
    if node == "RectiFlowSamplerDNAEdit":
        changes["start"] = 2
    out = run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=0)[0], guider=guider,
                   sampler=sampler(node, **changes), sigmas=sigmas(steps, model),
                   latent_image=source)[0]["samples"]
    assert out.shape == source["samples"].shape
    assert bool(torch.isfinite(out).all())
    assert not torch.equal(out, source["samples"])


@pytest.mark.parametrize("node", NODES)
def test_a_plain_guider_is_refused_by_name(threes, node):
    cfg = run_node("CFGGuider", model=digits_model(), positive=labels_cond("8"), negative=labels_cond("null"),
                   cfg=3.0)[0]
    with pytest.raises(ValueError, match="guider: RectiFlow Sampler .* needs the RectiFlow Edit Guider"):
        edit(threes, node, cfg)


@pytest.mark.parametrize("node", NODES)
def test_an_empty_latent_is_refused(comfy, node):
    with pytest.raises(ValueError, match="latent_image: .* expected the source image's latent"):
        edit(empty_latent(2), node)


@pytest.mark.parametrize("node", NODES)
def test_a_latent_with_the_wrong_channels_is_refused(comfy, node):
    with pytest.raises(ValueError, match=r"latent_image: expected a latent with 1 channels .* \[2, 4, 16, 16\]"):
        edit({"samples": torch.ones(2, 4, 16, 16)}, node)


def test_non_flow_models_are_refused_by_the_guider(comfy):
    eps_model = run_node("ModelSamplingDiscrete", model=digits_model(), sampling="eps", zsnr=False)[0]
    with pytest.raises(ValueError, match=r"model: the edit guider needs a flow \(CONST\) model"):
        edit_guider(model=eps_model)


def test_dnaedit_refuses_disabled_noise(threes):
    with pytest.raises(ValueError, match="noise: RectiFlow Sampler DNAEdit .* connect RandomNoise"):
        edit(threes, "RectiFlowSamplerDNAEdit", noise=run_node("DisableNoise")[0])


@pytest.mark.parametrize("node, changes, steps, name", [
    ("RectiFlowSamplerUniEdit", {"alpha": 0.05}, 15, "alpha"),
    ("RectiFlowSamplerUniEdit", {"mask_patch": 3}, 15, "mask_patch"),
    ("RectiFlowSamplerDNAEdit", {"start": 40}, 40, "start"),
])
def test_options_that_do_not_fit_the_schedule_or_latent_are_named(threes, node, changes, steps, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        edit(threes, node, steps=steps, **changes)


@pytest.mark.parametrize("node, inputs, name", [
    ("RectiFlowSamplerUniEdit", {**UNIEDIT, "omega": float("nan")}, "omega"),
    ("RectiFlowSamplerUniEdit", {**UNIEDIT, "mask": "max"}, "mask"),
    ("RectiFlowSamplerDNAEdit", {**DNAEDIT, "mvg": float("nan")}, "mvg"),
    ("RectiFlowSamplerDNAEdit", {**DNAEDIT, "mvg": 1.5}, "mvg"),
])
def test_bad_parameters_are_named(comfy, node, inputs, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        run_node(node, **inputs)


@pytest.mark.parametrize("node", NODES)
def test_progress_ends_at_twice_the_steps(threes, node):
    import comfy.utils

    seen = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: seen.append((value, total)))
    try:
        edit(threes, node)
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
    steps = SETTINGS[node][1]
    used = 9 if node == "RectiFlowSamplerUniEdit" else steps - DNAEDIT["start"]
    expected = list(range(1, used + 1)) + list(range(2 * steps - used + 1, 2 * steps + 1))
    assert seen[-2 * used:] == [(value, 2 * steps) for value in expected]


@pytest.mark.parametrize("node", NODES)
def test_an_interrupt_stops_the_edit(threes, node):
    import comfy.model_management

    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            edit(threes, node)
    finally:
        comfy.model_management.interrupt_current_processing(False)
