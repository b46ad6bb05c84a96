"""Reflow loader nodes in the real ComfyUI: file listing by model folder, RF-conversion presets, delta merge."""
from __future__ import annotations

import pytest
import torch

from rectiflow.testing.comfy_host import pack_module, run_node

from reflow_helpers import (POOLED_DIM, VARIANT, comfy_model_folder, conditioning, random_delta, save_delta_folder,
                            save_folder, save_single, save_state_dict, text_embedding, tiny_unet)

pytestmark = pytest.mark.usefixtures("comfy", "one_thread")


@pytest.fixture(scope="module")
def unets():
    return {"sd15": tiny_unet("sd15", seed=5), "sdxl": tiny_unet("sdxl", seed=6)}


@pytest.fixture(scope="module")
def folders(unets, tmp_path_factory):
    """A models/diffusers and a models/diffusion_models folder registered with ComfyUI's folder_paths."""
    diffusers_root, files_root = tmp_path_factory.mktemp("diffusers"), tmp_path_factory.mktemp("diffusion_models")
    save_folder(unets["sd15"], diffusers_root / "sd15-rf" / "unet")
    save_folder(unets["sd15"], diffusers_root / "sd15-variant", variant=VARIANT)
    save_single(unets["sd15"], files_root / "sd15-rf.safetensors")
    save_delta_folder(unets["sd15"], diffusers_root / "sd15-delta")
    save_state_dict(random_delta(unets["sdxl"]), files_root / "sdxl-delta.safetensors")
    (files_root / "pickled.ckpt").write_bytes(b"never opened")
    with comfy_model_folder("diffusers", diffusers_root), comfy_model_folder("diffusion_models", files_root):
        yield diffusers_root, files_root


def load(unet: str, variant: str = "", family: str = "2-rectified-flow"):
    return run_node("RectiFlowLoadInstaFlow", family=family, unet=unet, variant=variant)[0]


def test_listing_offers_files_and_diffusers_folders(folders):
    names = pack_module("nodes.reflow_files").unet_names()
    for name in ("sd15-rf.safetensors", "[diffusers] sd15-rf/unet", "[diffusers] sd15-variant", "pickled.ckpt"):
        assert name in names
    assert "[diffusers] sd15-rf" not in names     # a pipeline root without its own weights is not a UNet


def test_loader_node_reads_folders_variants_and_files(folders):
    for unet, variant in (("[diffusers] sd15-rf/unet", ""), ("[diffusers] sd15-variant", VARIANT),
                          ("sd15-rf.safetensors", "fp16")):
        model = load(unet, variant)
        assert pack_module("nodes.flow_models").is_flow_model(model)


@pytest.mark.parametrize("name", ["../secret.safetensors", "/etc/passwd", "missing.safetensors", "sd15-rf/unet"])
def test_names_outside_the_listing_are_refused(folders, name):
    with pytest.raises(ValueError, match="is not a UNet in ComfyUI's model folders"):
        load(name)


def test_pickled_file_is_refused_with_the_converter(folders):
    with pytest.raises(ValueError, match="rectiflow-convert-ckpt"):
        load("pickled.ckpt")


def sdxl_model(unets, tmp_path):
    """An SDXL MODEL as Load Checkpoint gives it for an ordinary (EPS) checkpoint."""
    reflow_unet = pack_module("nodes.reflow_unet")
    path = save_folder(unets["sdxl"], tmp_path / "sdxl")
    return reflow_unet.load_sd_unet(path, family_name="SDXL", base="sdxl", input_name="model")


@pytest.mark.parametrize("preset,shift", [("noobai-rf", 3.0), ("nyaflow-xl", 1.0), ("custom", 4.5)])
def test_rf_conversion_installs_sd3_flow_sampling(unets, tmp_path, preset, shift):
    base = sdxl_model(unets, tmp_path)
    converted = run_node("RectiFlowRFConversion", model=base, preset=preset, shift=4.5)[0]
    sampling = converted.get_model_object("model_sampling")
    assert pack_module("nodes.flow_models").is_flow_model(converted)
    assert (sampling.shift, sampling.multiplier) == (shift, 1000)
    assert sampling.timestep(torch.tensor(0.5)).item() == pytest.approx(500.0)
    assert not pack_module("nodes.flow_models").is_flow_model(base)   # the input MODEL is left as it was


def test_rf_conversion_samples_with_ksampler(unets, tmp_path):
    converted = run_node("RectiFlowRFConversion", model=sdxl_model(unets, tmp_path), preset="noobai-rf", shift=3.0)[0]
    pooled = torch.randn((1, POOLED_DIM), generator=torch.Generator().manual_seed(4))
    cond = conditioning(text_embedding(1), pooled)
    out = run_node("KSampler", model=converted, seed=1, steps=2, cfg=3.0, sampler_name="euler", scheduler="simple",
                   positive=cond, negative=cond, latent_image={"samples": torch.zeros((1, 4, 8, 8))}, denoise=1.0)[0]
    assert torch.isfinite(out["samples"]).all() and out["samples"].abs().mean() > 0


def test_rf_conversion_refuses_other_models(folders):
    with pytest.raises(ValueError, match="expects an SDXL checkpoint's MODEL"):
        run_node("RectiFlowRFConversion", model=load("[diffusers] sd15-rf/unet"), preset="noobai-rf", shift=3.0)
    digits = run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors")[0]
    with pytest.raises(ValueError, match="expected an SD/SDXL UNet MODEL"):
        run_node("RectiFlowRFConversion", model=digits, preset="custom", shift=3.0)


def sample_eps(model) -> torch.Tensor:
    """Two euler steps of the model (its own EPS sampling) on fixed noise and conditioning."""
    cond = conditioning(text_embedding(1))
    return run_node("KSampler", model=model, seed=3, steps=2, cfg=1.0, sampler_name="euler", scheduler="simple",
                    positive=cond, negative=cond, latent_image={"samples": torch.zeros((1, 4, 8, 8))},
                    denoise=1.0)[0]["samples"]


def base_model(unet, path):
    return pack_module("nodes.reflow_unet").load_sd_unet(path, family_name="SD1.5", base="sd15", input_name="model")


@pytest.mark.parametrize("strength", [1.0, 0.5])
def test_merge_delta_equals_loading_the_merged_weights(unets, folders, tmp_path, strength):
    diffusers_root, _ = folders
    delta = save_delta_folder(unets["sd15"], tmp_path / "again")[1]      # the same seeded delta as the listed one
    merged_unet = tiny_unet("sd15", seed=5)
    with torch.no_grad():
        for name, tensor in merged_unet.state_dict().items():
            tensor.add_(strength * delta[name])
    reference = base_model(merged_unet, save_folder(merged_unet, tmp_path / "merged"))
    base = base_model(unets["sd15"], diffusers_root / "sd15-rf" / "unet")
    merged = run_node("RectiFlowMergeDelta", model=base, delta="[diffusers] sd15-delta", strength=strength,
                      variant="")[0]
    torch.testing.assert_close(sample_eps(merged), sample_eps(reference), rtol=1e-4, atol=1e-4)
    assert not torch.allclose(sample_eps(base), sample_eps(reference), rtol=1e-3, atol=1e-3)


def test_merge_delta_refuses_a_delta_for_another_base(unets, folders, tmp_path):
    diffusers_root, files_root = folders
    base = base_model(unets["sd15"], diffusers_root / "sd15-rf" / "unet")
    with pytest.raises(ValueError, match="delta: 'sdxl-delta.*this base UNet does not have"):
        run_node("RectiFlowMergeDelta", model=base, delta="sdxl-delta.safetensors", strength=1.0, variant="")
    partial = random_delta(unets["sd15"])
    partial.pop("conv_in.bias")
    save_state_dict(partial, files_root / "partial-delta.safetensors")
    with pytest.raises(ValueError, match="1 missing and 0 unexpected.*conv_in.bias"):
        run_node("RectiFlowMergeDelta", model=base, delta="partial-delta.safetensors", strength=1.0, variant="")
    partial["conv_in.bias"] = torch.zeros(7)
    save_state_dict(partial, files_root / "misshaped-delta.safetensors")
    with pytest.raises(ValueError, match="wrong shape.*'conv_in.bias' is \\[7\\]"):
        run_node("RectiFlowMergeDelta", model=base, delta="misshaped-delta.safetensors", strength=1.0, variant="")
    with pytest.raises(ValueError, match="rectiflow-convert-ckpt"):
        run_node("RectiFlowMergeDelta", model=base, delta="pickled.ckpt", strength=1.0, variant="")
    digits = run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors")[0]
    with pytest.raises(ValueError, match="model: expected an SD/SDXL UNet MODEL"):
        run_node("RectiFlowMergeDelta", model=digits, delta="[diffusers] sd15-delta", strength=1.0, variant="")
