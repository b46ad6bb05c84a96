"""PeRFlow (arXiv 2405.07510) and Rectified Diffusion (arXiv 2410.07303) nodes in the real ComfyUI: the delta route
(Load Checkpoint -> Merge Delta -> Reflow Model Sampling) equals the merged checkpoint, flow-only nodes refuse the
eps model, and wrong inputs fail naming the input and what was expected."""
from __future__ import annotations

import pytest
import torch

from reflow_helpers import comfy_model_folder, save_delta_folder, save_folder, save_single, tiny_unet
from reflow_parity import comfy_run, prompt

from rectiflow.testing.comfy_host import pack_module, run_node

pytestmark = pytest.mark.usefixtures("comfy", "one_thread")


@pytest.fixture(scope="module")
def unets(tmp_path_factory):
    """An SD1.5 base, its PeRFlow delta, the merged PeRFlow UNet, an SDXL UNet and a pickle, in ComfyUI's folders."""
    diffusers_root, files_root = tmp_path_factory.mktemp("diffusers"), tmp_path_factory.mktemp("diffusion_models")
    base, xl = tiny_unet("sd15", seed=41), tiny_unet("sdxl", seed=42)
    save_folder(base, diffusers_root / "sd15-base")
    _, delta = save_delta_folder(base, diffusers_root / "perflow-delta")
    merged = tiny_unet("sd15", seed=41)
    merged.load_state_dict({k: v + delta[k] for k, v in base.state_dict().items()})
    save_folder(merged, diffusers_root / "perflow-merged", variant="v0-1")
    save_single(base, files_root / "rd.safetensors")
    save_single(xl, files_root / "phasedxl.safetensors")
    (files_root / "rd.ckpt").write_bytes(b"never opened")
    with comfy_model_folder("diffusers", diffusers_root), comfy_model_folder("diffusion_models", files_root):
        yield {"base": base, "merged": merged, "xl": xl}


def perflow(unet="[diffusers] perflow-merged", base="sd15", variant="v0-1"):
    return run_node("RectiFlowLoadPeRFlow", base=base, unet=unet, variant=variant)[0]


def rd(checkpoint="rd", unet="rd.safetensors"):
    return run_node("RectiFlowLoadRectifiedDiffusion", checkpoint=checkpoint, unet=unet)[0]


def failure(node: str, **inputs) -> str:
    with pytest.raises(ValueError) as info:
        run_node(node, **inputs)
    message = str(info.value)
    assert message.isascii()
    return message


def test_delta_route_equals_the_merged_perflow_checkpoint(unets):
    base = pack_module("nodes.reflow_unet").load_sd_unet(
        pack_module("nodes.reflow_files").unet_path("[diffusers] sd15-base", "unet"), family_name="SD1.5",
        base="sd15", input_name="unet")                                   # an ordinary eps SD1.5 MODEL
    merged = run_node("RectiFlowMergeDelta", model=base, delta="[diffusers] perflow-delta", variant="", strength=1.0)[0]
    routed = run_node("RectiFlowReflowModelSampling", model=merged, sampling="perflow_sd15")[0]
    sigmas = run_node("RectiFlowPeRFlowScheduler", steps=4)[0]
    texts = prompt()
    via_delta, direct = comfy_run(routed, sigmas, texts, 4.5), comfy_run(perflow(), sigmas, texts, 4.5)
    assert via_delta.timesteps == direct.timesteps
    torch.testing.assert_close(via_delta.latent, direct.latent, rtol=1e-4, atol=1e-4 * direct.latent.abs().max())
    assert not pack_module("nodes.flow_models").is_flow_model(base)      # the input MODEL keeps its sampling


def test_perflow_is_a_flow_model_and_rectified_diffusion_is_not(unets):
    flow_models = pack_module("nodes.flow_models")
    assert flow_models.is_flow_model(perflow())
    model = rd()
    assert not flow_models.is_flow_model(model)
    sigmas = run_node("RectiFlowTrailingDDIMScheduler", model=model, steps=2, set_alpha_to_one=False)[0]
    guider = run_node("CFGGuider", model=model, positive=prompt().comfy("cond", 64),
                      negative=prompt().comfy("uncond", 64), cfg=1.5)[0]
    with pytest.raises(ValueError, match="sampler: RectiFlow solvers integrate flow models"):
        run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=1)[0], guider=guider,
                 sampler=run_node("RectiFlowSamplerEuler")[0], sigmas=sigmas,
                 latent_image={"samples": torch.zeros(1, 4, 8, 8)})


def test_wrong_family_layout_and_pickles_are_refused(unets):
    assert "expects an SD1.5 UNet" in failure("RectiFlowLoadRectifiedDiffusion", checkpoint="rd",
                                              unet="phasedxl.safetensors")
    assert "SDXL" in failure("RectiFlowLoadRectifiedDiffusion", checkpoint="phasedxl", unet="rd.safetensors")
    assert "expects an SDXL UNet" in failure("RectiFlowLoadPeRFlow", base="sdxl", unet="[diffusers] sd15-base",
                                             variant="")
    assert "rectiflow-convert-ckpt" in failure("RectiFlowLoadRectifiedDiffusion", checkpoint="rd", unet="rd.ckpt")
    message = failure("RectiFlowLoadPeRFlow", base="sd15", unet="[diffusers] perflow-merged", variant="")
    assert message.startswith("unet: ") and "v0-1" in message             # names the variants that are there


def test_unknown_options_are_refused_by_name(unets):
    assert failure("RectiFlowLoadPeRFlow", base="sd21", unet="rd.safetensors", variant="").startswith("base: ")
    assert failure("RectiFlowLoadRectifiedDiffusion", checkpoint="lcm",
                   unet="rd.safetensors").startswith("checkpoint: ")
    assert failure("RectiFlowReflowModelSampling", model=rd(), sampling="flow").startswith("sampling: ")


def test_schedules_refuse_bad_steps_and_models(unets):
    for steps in (0, 3):
        assert "steps: PeRFlow needs at least one step per time window" in failure("RectiFlowPeRFlowScheduler",
                                                                                  steps=steps)
    assert failure("RectiFlowTrailingDDIMScheduler", model=rd(), steps=0,
                   set_alpha_to_one=False).startswith("steps: expected an integer in [1, 500]")
    message = failure("RectiFlowTrailingDDIMScheduler", model=perflow(), steps=2, set_alpha_to_one=False)
    assert message.startswith("model: trailing DDIM needs a discrete-time diffusion model")
    digits = run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors")[0]
    assert failure("RectiFlowReflowModelSampling", model=digits,
                   sampling="perflow_sd15").startswith("model: expected an SD1.5/SDXL UNet MODEL")


def test_prompt_validation_catches_too_few_perflow_steps():
    cls = pack_module("nodes.reflow_schedules").PeRFlowScheduler
    assert "steps: expected a value in [4, 200]" in cls.validate_inputs(steps=2)
    assert cls.validate_inputs(steps=6) is True


def test_solver_stages_at_sigma_0_are_refused_on_perflow_and_the_default_runs(unets):
    """v(x, 0) = -x (CONST's flow) does not hold for PeRFlow's windows: the exact final stage and inversion from
    sigma 0 would use it, so they are refused; the default final step (onto x0_hat) runs."""
    model, texts = perflow(), prompt()
    sigmas = run_node("RectiFlowPeRFlowScheduler", steps=4)[0]
    guider = run_node("CFGGuider", model=model, positive=texts.comfy("cond", 64), negative=texts.comfy("uncond", 64),
                      cfg=4.5)[0]
    latent = {"samples": torch.zeros(1, 4, 8, 8)}

    def sample(final_step: str):
        heun = run_node("RectiFlowSamplerRungeKutta", method="heun", final_step=final_step)[0]
        return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=1)[0], guider=guider,
                        sampler=heun, sigmas=sigmas, latent_image=latent)[0]
    assert torch.isfinite(sample("denoised")["samples"]).all()
    with pytest.raises(ValueError, match="sampler: this model \\(PeRFlowSampling\\) is a flow whose velocity"):
        sample("exact")
    with pytest.raises(ValueError, match="sigmas starting above 0 for an inversion"):
        run_node("RectiFlowInvert", guider=guider, sampler=run_node("RectiFlowSamplerEuler")[0], sigmas=sigmas,
                 latent_image=latent)
