"""No silent NaN (issue 9, part 3): each combination that used to hand back NaN or inf either works or stops with an
error naming the input, node, step or sigma. One test per case of the issue's table, plus every float widget."""
from __future__ import annotations

import math

import pytest
import torch

from rectiflow.testing.comfy_host import boot_comfyui, rectiflow_widgets, run_node
from digits_helpers import accuracy, digits_model, empty_latent, labels_cond
from guidance_helpers import LABELS, cfg_guider, fixed_noise, guider, sample, simple_sigmas, stock_sampler


def rectiflow_sampler(solver: str = "rf_solver"):
    return run_node("RectiFlowSamplerSelect", solver=solver)[0]


def clean_latent(batch: int = 4) -> dict:
    basic = run_node("BasicGuider", model=digits_model(), conditioning=labels_cond("0 1 2 3"))[0]
    return {"samples": sample(basic, rectiflow_sampler("rk4"), steps=16, batch=batch)}


def invert(sigmas, clean: dict, sampler=None) -> torch.Tensor:
    basic = run_node("BasicGuider", model=digits_model(), conditioning=labels_cond("0 1 2 3"))[0]
    return run_node("RectiFlowInvert", guider=basic, sampler=sampler or rectiflow_sampler(), sigmas=sigmas,
                    latent_image=clean)[0]["samples"]


def flipped_run(sigmas, clean: dict) -> torch.Tensor:
    basic = run_node("BasicGuider", model=digits_model(), conditioning=labels_cond("0 1 2 3"))[0]
    return run_node("SamplerCustomAdvanced", noise=run_node("DisableNoise")[0], guider=basic,
                    sampler=rectiflow_sampler(), sigmas=run_node("FlipSigmas", sigmas=sigmas)[0],
                    latent_image=clean)[0]["samples"]


@pytest.mark.parametrize("top", [1.0, 0.6])
def test_flip_sigmas_with_a_rectiflow_sampler_inverts_like_the_invert_node(comfy, top):
    """FlipSigmas + SamplerCustomAdvanced: inf at sigma 1 and a state divided by 1 - sigma below it, before."""
    sigmas = simple_sigmas(12)
    sigmas = sigmas[sigmas <= top + 1e-6]
    clean = clean_latent()
    flipped = flipped_run(sigmas, clean)
    assert torch.isfinite(flipped).all()
    torch.testing.assert_close(flipped, invert(run_node("FlipSigmas", sigmas=sigmas)[0], clean), rtol=0, atol=0)
    if top == 1.0:      # the inverted state at sigma 1 is noise-like
        assert 0.5 < float(flipped.std()) < 2.0


def test_invert_refuses_comfyuis_own_samplers_by_name(comfy):
    with pytest.raises(ValueError, match=r"^sampler: RectiFlow Invert needs a RectiFlow sampler \(RectiFlow Sampler "
                                         r"Euler, RectiFlow Sampler Select or RectiFlow Sampler Adaptive\)"):
        invert(simple_sigmas(4), {"samples": torch.zeros(1, 1, 16, 16)}, sampler=stock_sampler("euler"))


@pytest.mark.parametrize("sampler", ["rectiflow", "euler"])
def test_rectified_cfgpp_at_predictor_fraction_one_samples(comfy, sampler):
    """The official SD3 setting: the last predictor lands on sigma 0 (630/630 values non-finite before)."""
    chosen = rectiflow_sampler("euler") if sampler == "rectiflow" else stock_sampler("euler")
    out = sample(guider("RectiFlowGuiderRectifiedCFGPP", w=2.0, predictor_fraction=1.0), chosen, steps=8, batch=10)
    assert torch.isfinite(out).all()
    assert accuracy(out, LABELS) >= 0.8


RCFG_BLOWS_UP = dict(w=100.0, mode="self", delta=1.0)   # the guidance error grows 99x per step
GUIDER_ERROR = (r"^RectiFlow Guider Residual CFG: step \d+ at sigma [0-9.]+: the guided prediction contains NaN or "
                r"infinite values; lower the guidance weight")


@pytest.mark.parametrize("sampler", ["rectiflow", "euler", "dpmpp_2m"])
def test_a_guider_that_goes_non_finite_stops_naming_node_step_and_sigma(comfy, sampler):
    chosen = rectiflow_sampler("euler") if sampler == "rectiflow" else stock_sampler(sampler)
    with pytest.raises(FloatingPointError, match=GUIDER_ERROR):
        sample(guider("RectiFlowGuiderRCFG", **RCFG_BLOWS_UP), chosen, steps=20, batch=2)


def test_a_patch_that_goes_non_finite_under_ksampler_stops_naming_the_node(comfy):
    patched = run_node("RectiFlowPatchSMCCFG", model=digits_model(), lam=5.0, k=0.2, warmup_steps=0,
                       gain="absolute", boundary_layer=0.0)[0]
    with pytest.raises(FloatingPointError, match=r"^RectiFlow Patch SMC-CFG \(KSampler\): step 0 at sigma 1: the "
                                                 r"guided prediction contains NaN or infinite values"):
        run_node("KSampler", model=patched, seed=0, steps=4, cfg=1e39, sampler_name="euler", scheduler="simple",
                 positive=labels_cond("1"), negative=labels_cond("null"), latent_image=empty_latent(1), denoise=1.0)


def test_the_guidance_inspector_stops_on_a_non_finite_prediction_of_any_guider(comfy):
    with pytest.raises(FloatingPointError, match=r"^RectiFlow Guidance Inspector: step 0 at sigma 1: the guided "
                                                 r"prediction contains NaN or infinite values"):
        run_node("RectiFlowGuidanceInspector", noise=fixed_noise(2), guider=cfg_guider(1e39),
                 sampler=stock_sampler("euler"), sigmas=simple_sigmas(4), latent_image=empty_latent(2))


def test_a_sampler_step_that_goes_non_finite_stops_naming_step_and_sigma(comfy):
    """A stock guider at an absurd cfg: RectiFlow's sampler, not the guider, catches it."""
    with pytest.raises(FloatingPointError, match=r"^RectiFlow sampler sample_flow_euler: step \d+ at sigma [0-9.]+ "
                                                 r"produced NaN or infinite values"):
        sample(cfg_guider(1e39), rectiflow_sampler("euler"), steps=8, batch=2)


def test_an_inversion_step_that_goes_non_finite_stops_naming_step_and_sigma(comfy):
    with pytest.raises(FloatingPointError, match=r"^RectiFlow sampler sample_flow_euler: step \d+ at sigma [0-9.]+ "
                                                 r"produced NaN or infinite values"):
        run_node("RectiFlowInvert", guider=cfg_guider(1e39), sampler=rectiflow_sampler("euler"),
                 sigmas=simple_sigmas(6), latent_image=clean_latent(2))


_trajectory = None


def linked_inputs(node_id: str) -> dict:
    """Real values for the non-widget inputs of the nodes that have float widgets."""
    global _trajectory
    cls = boot_comfyui().NODE_CLASS_MAPPINGS[node_id]
    kinds = {name: spec[0] for name, spec in cls.INPUT_TYPES().get("required", {}).items()}
    out = {}
    for name, kind in kinds.items():
        if kind == "MODEL":
            out[name] = digits_model()
        elif kind == "CONDITIONING":
            out[name] = labels_cond("1" if name == "positive" else "null")
        elif kind == "RECTIFLOW_TRAJECTORY":
            if _trajectory is None:
                basic = run_node("BasicGuider", model=digits_model(), conditioning=labels_cond("1"))[0]
                _trajectory = run_node("RectiFlowReferenceTrajectory", guider=basic, latent_image=empty_latent(1),
                                       noise_seed=0, fine_steps=8)[0]
            out[name] = _trajectory
    return out


def widget_defaults(node_id: str) -> dict:
    """Each widget's default; a combo without one (a model list, possibly empty) gets its first option or None."""
    cls = boot_comfyui().NODE_CLASS_MAPPINGS[node_id]
    specs = {name: spec for section in cls.INPUT_TYPES().values() if isinstance(section, dict)
             for name, spec in section.items() if len(spec) > 1 and isinstance(spec[1], dict)}
    return {name: spec[1]["default"] if "default" in spec[1] else (spec[1].get("options") or [None])[0]
            for name, spec in specs.items() if "default" in spec[1] or spec[0] == "COMBO"}


FLOATS = rectiflow_widgets(("FLOAT",))


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("node_id, name, options", FLOATS, ids=[f"{n}.{i}" for n, i, _ in FLOATS])
def test_every_float_input_refuses_non_finite_values_when_executed_directly(comfy, node_id, name, options, value):
    """Nodes called without /prompt validation (tests, other packs) refuse NaN and infinities by input name."""
    inputs = {**widget_defaults(node_id), **linked_inputs(node_id), name: value}
    with pytest.raises(ValueError, match=rf"^{name}: expected a finite number, got (nan|inf|-inf)$"):
        run_node(node_id, **inputs)
