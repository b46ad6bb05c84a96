"""nodes/comfy_compat.py against the real ComfyUI 0.3.75 host and against stand-ins for ComfyUI 0.38.

ComfyUI 0.38 cannot be installed here (the host is the 0.3.75 tree; no newer one can be fetched), so the 0.38
side is a minimal stand-in that reproduces the 0.38 code exactly as read from upstream's source
(Comfy-Org/ComfyUI comfy/model_sampling.py at 38a99a826e14, comfy/sample.py's 0.38 signature). Each stand-in
copies only the members the shim touches; the 0.3.75 side is always the real installed ComfyUI.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from rectiflow.testing.comfy_host import pack_module, run_node


def reshape_sigma(sigma, noise_dim):
    """ComfyUI 0.38 comfy/model_sampling.py reshape_sigma, verbatim."""
    if sigma.nelement() == 1:
        return sigma.view(())
    else:
        return sigma.view(sigma.shape[:1] + (1,) * (noise_dim - 1))


class Const038:
    """ComfyUI 0.38 CONST (noise_scaling scales the noise by `noise_scale`, set by set_noise_scale)."""

    def calculate_input(self, sigma, noise):
        return noise

    def calculate_denoised(self, sigma, model_output, model_input):
        sigma = reshape_sigma(sigma, model_output.ndim)
        return model_input - model_output * sigma

    def noise_scaling(self, sigma, noise, latent_image, max_denoise=False):
        sigma = reshape_sigma(sigma, noise.ndim)
        s = getattr(self, "noise_scale", 1.0)
        return sigma * (s * noise) + (1.0 - sigma) * latent_image

    def inverse_noise_scaling(self, sigma, latent):
        sigma = reshape_sigma(sigma, latent.ndim)
        return latent / (1.0 - sigma)

    def set_noise_scale(self, noise_scale):
        self.noise_scale = float(noise_scale)


def img_to_img_classes(const):
    """ComfyUI 0.38's CONST subclasses IMG_TO_IMG_FLOW and IMG_TO_IMG_VELOCITY, on top of the given CONST."""
    class IMG_TO_IMG_FLOW(const):
        def calculate_denoised(self, sigma, model_output, model_input):
            return model_output

        def noise_scaling(self, sigma, noise, latent_image, max_denoise=False):
            return latent_image

        def inverse_noise_scaling(self, sigma, latent):
            return 1.0 - latent

    class IMG_TO_IMG_VELOCITY(const):
        def calculate_denoised(self, sigma, model_output, model_input):
            return model_input - model_output

        def noise_scaling(self, sigma, noise, latent_image, max_denoise=False):
            return latent_image

        def inverse_noise_scaling(self, sigma, latent):
            return latent

    return IMG_TO_IMG_FLOW, IMG_TO_IMG_VELOCITY


def fix_empty_latent_channels_038(calls: list):
    """A function with ComfyUI 0.38's comfy.sample.fix_empty_latent_channels signature that records its call."""
    def fix_empty_latent_channels(model, latent_image, downscale_ratio_spacial=None, downscale_ratio_temporal=None):
        calls.append((model, downscale_ratio_spacial, downscale_ratio_temporal))
        return latent_image
    return fix_empty_latent_channels


@pytest.fixture(scope="module")
def compat(comfy):
    return pack_module("nodes.comfy_compat")


@pytest.fixture(scope="module")
def flow_model(comfy):
    return run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors")[0]


def host_sampling(model_type_name: str, constant=None):
    """A model_sampling object built the way ComfyUI's model_base.model_sampling builds one."""
    import comfy.model_sampling as ms

    settings = SimpleNamespace(sampling_settings={"shift": 1.0, "multiplier": 1000})
    base = ms.ModelSamplingDiscreteFlow if model_type_name == "flow" else ms.ModelSamplingDiscrete
    mixin = constant or (ms.CONST if model_type_name == "flow" else ms.EPS)
    return type("ModelSampling", (base, mixin), {})(settings)


def sample_tensors(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)


@pytest.mark.parametrize("sigma", [0.3, 0.8, 1.0])
def test_noise_for_start_inverts_the_installed_noise_scaling(compat, flow_model, sigma):
    sampling = flow_model.get_model_object("model_sampling")
    assert compat.const_noise_scale(sampling) == 1.0
    start, latent = sample_tensors()
    noise = compat.noise_for_start(sampling, start, latent, sigma)
    torch.testing.assert_close(sampling.noise_scaling(torch.tensor(sigma), noise, latent), start)


@pytest.mark.parametrize("sigma", [0.3, 1.0])
def test_noise_for_start_inverts_the_038_noise_scaling_with_a_noise_scale(compat, sigma):
    import comfy.model_sampling as ms

    sampling = host_sampling("flow", Const038)
    sampling.set_noise_scale(2.5)
    assert compat.const_noise_scale(sampling) == 2.5
    start, latent = sample_tensors(1)
    noise = compat.noise_for_start(sampling, start, latent, sigma)
    torch.testing.assert_close(sampling.noise_scaling(torch.tensor(sigma), noise, latent), start)
    unscaled = (start - (1 - sigma) * latent) / sigma                 # what InvertedNoise computes today
    assert not torch.allclose(sampling.noise_scaling(torch.tensor(sigma), unscaled, latent), start)
    assert ms.CONST.noise_scaling is not Const038.noise_scaling       # the host really is the older CONST


def test_noise_for_start_names_a_bad_sigma(compat, flow_model):
    start, latent = sample_tensors()
    with pytest.raises(ValueError, match="sigma"):
        compat.noise_for_start(flow_model.get_model_object("model_sampling"), start, latent, 0.0)


def test_is_velocity_flow_on_the_installed_host(compat, flow_model):
    assert compat.is_velocity_flow(flow_model.get_model_object("model_sampling"))
    assert compat.is_velocity_flow(host_sampling("flow"))
    assert not compat.is_velocity_flow(host_sampling("eps"))


def test_is_velocity_flow_refuses_the_038_image_to_image_samplings(compat):
    import comfy.model_sampling as ms

    for constant in img_to_img_classes(ms.CONST):
        sampling = host_sampling("flow", constant)
        assert isinstance(sampling, ms.CONST)                          # what is_flow_model checks today
        assert not compat.is_velocity_flow(sampling), constant.__name__


def test_is_velocity_flow_accepts_the_packs_velocity_flow_samplings_only_where_they_compute_v(compat):
    import comfy.model_sampling as ms

    marker = pack_module("nodes.velocity_flow").VelocityFlowSampling
    reflow = pack_module("nodes.reflow_sampling")
    assert compat.is_velocity_flow(reflow.PeRFlowSampling(None, prediction="ddim_eps"))
    assert not compat.is_velocity_flow(reflow.DiffusersEpsSampling(None, beta_schedule="linear"))

    class OwnVelocity(ms.ModelSamplingDiscreteFlow, marker):
        def calculate_denoised(self, sigma, model_output, model_input):
            return model_input - reshape_sigma(sigma, model_output.ndim) * 2 * model_output

    class EpsFirst(ms.ModelSamplingDiscreteFlow, ms.EPS, marker):       # EPS's calculate_denoised wins the MRO
        pass

    class Unmarked(ms.ModelSamplingDiscreteFlow, ms.CONST):
        calculate_denoised = OwnVelocity.calculate_denoised
    assert compat.is_velocity_flow(OwnVelocity(None))
    assert not compat.is_velocity_flow(EpsFirst(None))
    assert not compat.is_velocity_flow(Unmarked(None))


def test_fix_empty_latent_on_the_installed_host(compat, flow_model):
    latent = {"samples": torch.zeros(1, 4, 16, 16), "downscale_ratio_spacial": 8}
    fixed = compat.fix_empty_latent(flow_model, latent)
    assert fixed.shape == (1, 1, 16, 16)                               # digits latents have one channel


def test_fix_empty_latent_hands_038_the_latent_ratios(compat, flow_model, monkeypatch):
    import comfy.sample

    calls: list = []
    monkeypatch.setattr(comfy.sample, "fix_empty_latent_channels", fix_empty_latent_channels_038(calls))
    samples = torch.zeros(1, 1, 16, 16)
    assert compat.fix_empty_latent(flow_model, {"samples": samples, "downscale_ratio_spacial": 16}) is samples
    assert compat.fix_empty_latent(flow_model, {"samples": samples}) is samples
    assert calls == [(flow_model, 16, None), (flow_model, None, None)]
