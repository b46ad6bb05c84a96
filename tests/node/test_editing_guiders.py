"""RectiFlow Edit Guider (from guiders) in the real ComfyUI on the digits model: two CFGGuiders are the plain Edit
Guider, a RAAG / SMC-CFG target branch follows an independent FlowEdit loop with that law, ComfyUI's BasicGuider and
DualCFGGuider work as branches, guidance patches on a branch's model apply, other models and non-guiders are
refused, and the same seed gives the same edit."""
import pytest
import torch

from rectiflow.models.digits import NULL_LABEL, label_one_hot
from rectiflow.testing.comfy_host import run_node
from digits_helpers import accuracy, empty_latent, labels_cond
from digits_helpers import digits_model as load_digits_model

BATCH = 12
STEPS = 28
FLOWEDIT = {"n_max": 16, "n_min": 0, "n_avg": 1, "seed": 0}
RF_INVERSION = {"gamma": 0.5, "eta": 0.9, "start_step": 0, "stop_step": 7}
SMC_GAIN = 0.05   # SMC-CFG's switching gain K in velocity units (the paper's absolute gain), sign switching
TOL = dict(rtol=1e-5, atol=1e-5)
pytestmark = pytest.mark.usefixtures("one_thread")
_model = []


def digits_model():
    """One loaded digits MODEL for every guider here (branch guiders must share their model)."""
    if not _model:
        _model.append(load_digits_model())
    return _model[0]


def sigmas(steps: int = STEPS):
    return run_node("BasicScheduler", model=digits_model(), scheduler="simple", steps=steps, denoise=1.0)[0]


def cfg_guider(label: str, cfg: float, model=None):
    return run_node("CFGGuider", model=model or digits_model(), positive=labels_cond(label),
                    negative=labels_cond("null"), cfg=cfg)[0]


def law_guider(node: str, label: str, model=None, **settings):
    return run_node(node, model=model or digits_model(), positive=labels_cond(label), negative=labels_cond("null"),
                    **settings)[0]


def smc_settings() -> dict:
    """lambda 5, absolute K, sign switching (boundary layer 0), no warm-up."""
    return {"lam": 5.0, "k": SMC_GAIN, "warmup_steps": 0, "gain": "absolute", "boundary_layer": 0.0}


@pytest.fixture(scope="module")
def threes(comfy) -> dict:
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=1)[0],
                    guider=cfg_guider("3", 3.0), sampler=run_node("RectiFlowSamplerEuler")[0], sigmas=sigmas(32),
                    latent_image=empty_latent(BATCH))[0]


def plain_edit_guider(source_cfg=1.5, target_cfg=3.0):
    return run_node("RectiFlowEditGuider", model=digits_model(), source=labels_cond("3"), target=labels_cond("8"),
                    negative=labels_cond("null"), source_cfg=source_cfg, target_cfg=target_cfg)[0]


def from_guiders(source_guider, target_guider):
    return run_node("RectiFlowEditGuiderFromGuiders", source_guider=source_guider, target_guider=target_guider)[0]


def edit(latent: dict, guider, node: str = "RectiFlowSamplerFlowEdit", noise_seed: int = 5, **changes):
    settings = FLOWEDIT if node == "RectiFlowSamplerFlowEdit" else RF_INVERSION
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=noise_seed)[0], guider=guider,
                    sampler=run_node(node, **{**settings, **changes})[0], sigmas=sigmas(),
                    latent_image=latent)[0]["samples"]


# ---------------------------------------------------------------- an independent FlowEdit loop on the raw network

def velocity(x: torch.Tensor, sigma: float, label: int) -> torch.Tensor:
    net = digits_model().model.diffusion_model
    labels = torch.full((x.shape[0],), label)
    return net(x, torch.full((x.shape[0],), 1000.0 * sigma), context=label_one_hot(labels))


def guided(law, label: int):
    memory = {}

    def v(x, sigma):
        v_c, v_u = velocity(x, sigma, label), velocity(x, sigma, NULL_LABEL)
        out, memory["m"] = law(v_c, v_u, memory.get("m"))
        return out
    return v


def cfg_law(w):
    return lambda v_c, v_u, memory: (v_u + w * (v_c - v_u), memory)


def raag_law(w_max, alpha):
    def law(v_c, v_u, memory):
        ratio = (v_c - v_u).flatten(1).norm(dim=1) / v_u.flatten(1).norm(dim=1)
        weight = 1 + (w_max - 1) * torch.exp(-alpha * ratio)
        return v_u + weight.view(-1, 1, 1, 1) * (v_c - v_u), memory
    return law


def smc_law(w, lam, k):
    def law(v_c, v_u, previous):
        error = v_c - v_u
        previous = error if previous is None else previous
        controlled = error - k * torch.sign((error - previous) + lam * previous)
        return v_u + w * controlled, controlled
    return law


def reference_flowedit(v_src, v_tar, x_src: torch.Tensor, n_max: int, seed: int) -> torch.Tensor:
    """Algorithm 1 of arXiv 2412.08629 over the last n_max steps, noise drawn as the FlowEdit sampler draws it."""
    values, generator = sigmas().tolist(), torch.Generator().manual_seed(seed)
    z = x_src.clone()
    with torch.no_grad():
        for i in range(len(values) - 1 - n_max, len(values) - 1):
            sigma, sigma_next = values[i], values[i + 1]
            z_src = (1 - sigma) * x_src + sigma * torch.randn(x_src.shape, generator=generator)
            z = z + (sigma_next - sigma) * (v_tar(z + z_src - x_src, sigma) - v_src(z_src, sigma))
    return z


# ---------------------------------------------------------------------------------------------------- the tests

@pytest.mark.parametrize("node", ["RectiFlowSamplerFlowEdit", "RectiFlowSamplerRFInversion"])
def test_two_cfg_guiders_are_the_plain_edit_guider(threes, node):
    ours = edit(threes, from_guiders(cfg_guider("3", 1.5), cfg_guider("8", 3.0)), node)
    torch.testing.assert_close(ours, edit(threes, plain_edit_guider(1.5, 3.0), node), **TOL)
    assert accuracy(ours, [8]) >= 0.75


@pytest.mark.parametrize("node, settings, law", [
    ("RectiFlowGuiderRAAG", dict(w_max=8.0, alpha=3.0), raag_law(8.0, 3.0)),
    ("RectiFlowGuiderSMCCFG", dict(w=3.0), smc_law(3.0, 5.0, SMC_GAIN)),
], ids=["raag", "smc"])
def test_a_guider_on_the_target_branch_follows_an_independent_flowedit_loop_with_its_law(threes, node, settings, law):
    settings = {**settings, **(smc_settings() if node == "RectiFlowGuiderSMCCFG" else {})}
    ours = edit(threes, from_guiders(cfg_guider("3", 1.5), law_guider(node, "8", **settings)))
    expected = reference_flowedit(guided(cfg_law(1.5), 3), guided(law, 8), threes["samples"], FLOWEDIT["n_max"],
                                  FLOWEDIT["seed"])
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    plain_cfg = edit(threes, from_guiders(cfg_guider("3", 1.5), cfg_guider("8", 3.0)))
    assert (ours - plain_cfg).abs().max() > 1e-2   # the branch's own law was used, not CFG


@pytest.mark.parametrize("node, settings", [
    ("RectiFlowGuiderRectifiedCFGPP", dict(w=2.0, predictor_fraction=0.5)),
    ("RectiFlowGuiderAPG", dict(w=3.0, momentum=-0.5, norm_threshold=0.0, eta=0.0)),
], ids=["rectified-cfgpp", "apg"])
def test_step_and_momentum_guiders_work_as_the_target_branch(threes, node, settings):
    ours = edit(threes, from_guiders(cfg_guider("3", 1.5), law_guider(node, "8", **settings)))
    plain_cfg = edit(threes, from_guiders(cfg_guider("3", 1.5), cfg_guider("8", 3.0)))
    assert bool(torch.isfinite(ours).all()) and (ours - plain_cfg).abs().max() > 1e-2
    assert accuracy(ours, [8]) >= 0.5


def test_a_stateful_branch_guider_starts_afresh_every_run(threes):
    guider = from_guiders(cfg_guider("3", 1.5), law_guider("RectiFlowGuiderSMCCFG", "8", w=3.0, **smc_settings()))
    assert torch.equal(edit(threes, guider), edit(threes, guider))


def test_a_guidance_patch_on_a_branch_model_applies_like_the_guider(threes):
    patched = run_node("RectiFlowPatchSMCCFG", model=digits_model(), **smc_settings())[0]
    through_patch = edit(threes, from_guiders(cfg_guider("3", 1.5), cfg_guider("8", 3.0, model=patched)))
    through_guider = edit(threes, from_guiders(cfg_guider("3", 1.5),
                                               law_guider("RectiFlowGuiderSMCCFG", "8", w=3.0, **smc_settings())))
    torch.testing.assert_close(through_patch, through_guider, **TOL)


def test_comfy_basic_and_dual_cfg_guiders_work_as_branches(threes):
    basic = run_node("BasicGuider", model=digits_model(), conditioning=labels_cond("3"))[0]
    dual = run_node("DualCFGGuider", model=digits_model(), cond1=labels_cond("8"), cond2=labels_cond("null"),
                    negative=labels_cond("null"), cfg_conds=3.0, cfg_cond2_negative=2.0, style="regular")[0]
    ours = edit(threes, from_guiders(basic, dual))   # dual with cond2 = negative is CFG at cfg_conds
    torch.testing.assert_close(ours, edit(threes, plain_edit_guider(1.0, 3.0)), **TOL)


def test_one_guider_on_both_branches_returns_the_source(threes):
    guider = cfg_guider("3", 3.0)
    out = edit(threes, from_guiders(guider, guider))
    assert (out - threes["samples"]).abs().max().item() < 1e-4


def test_another_sampler_samples_the_target_guider(comfy):
    noise, euler = run_node("RandomNoise", noise_seed=3)[0], run_node("KSamplerSelect", sampler_name="euler")[0]
    target = law_guider("RectiFlowGuiderRAAG", "8", w_max=8.0, alpha=3.0)

    def sample(guider):
        return run_node("SamplerCustomAdvanced", noise=noise, guider=guider, sampler=euler, sigmas=sigmas(8),
                        latent_image=empty_latent(4))[0]["samples"]
    torch.testing.assert_close(sample(from_guiders(cfg_guider("3", 1.5), target)), sample(target), **TOL)


@pytest.mark.parametrize("node", ["RectiFlowSamplerFlowEdit", "RectiFlowSamplerRFInversion"])
def test_the_same_seed_gives_the_same_edit(threes, node):
    guider = from_guiders(cfg_guider("3", 1.5), law_guider("RectiFlowGuiderRAAG", "8", w_max=8.0, alpha=3.0))
    assert torch.equal(edit(threes, guider, node), edit(threes, guider, node))
    other_seed = {"seed": 1} if node == "RectiFlowSamplerFlowEdit" else {"noise_seed": 6}
    assert not torch.equal(edit(threes, guider, node, **other_seed), edit(threes, guider, node))


def test_progress_is_reported_every_step(threes):
    import comfy.utils

    steps = []
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, node_id=None: steps.append((value, total)))
    try:
        edit(threes, from_guiders(cfg_guider("3", 1.5), cfg_guider("8", 3.0)))
    finally:
        comfy.utils.set_progress_bar_global_hook(None)
    assert steps[-STEPS:] == [(i + 1, STEPS) for i in range(STEPS)]


def test_an_interrupt_stops_the_edit(threes):
    import comfy.model_management

    comfy.model_management.interrupt_current_processing(True)
    try:
        with pytest.raises(comfy.model_management.InterruptProcessingException):
            edit(threes, from_guiders(cfg_guider("3", 1.5), cfg_guider("8", 3.0)))
    finally:
        comfy.model_management.interrupt_current_processing(False)


def test_guiders_of_different_models_are_refused_naming_the_input(comfy):
    shifted = run_node("ModelSamplingSD3", model=digits_model(), shift=3.0)[0]
    with pytest.raises(ValueError, match="target_guider: samples another model than source_guider"):
        from_guiders(cfg_guider("3", 1.5), cfg_guider("8", 3.0, model=shifted))


@pytest.mark.parametrize("name", ["source_guider", "target_guider"])
def test_inputs_that_are_not_branch_guiders_are_named(comfy, name):
    inputs = {"source_guider": cfg_guider("3", 1.5), "target_guider": cfg_guider("8", 3.0)}
    with pytest.raises(ValueError, match=f"{name}: expected a GUIDER"):
        from_guiders(**{**inputs, name: "not a guider"})
    with pytest.raises(ValueError, match=f"{name}: expected a guider for one branch .* got a RectiFlow Edit Guider"):
        from_guiders(**{**inputs, name: plain_edit_guider()})


def test_a_non_flow_branch_model_is_refused(comfy):
    eps_model = run_node("ModelSamplingDiscrete", model=digits_model(), sampling="eps", zsnr=False)[0]
    with pytest.raises(ValueError, match=r"source_guider: the edit needs a flow \(CONST\) model"):
        from_guiders(cfg_guider("3", 1.5, model=eps_model), cfg_guider("8", 3.0))
