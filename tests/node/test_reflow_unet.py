"""The reflow UNet loader core (nodes/reflow_unet.py) on tiny diffusers UNets, inside the real ComfyUI.

ComfyUI's UNetModel built from the checkpoint's config must compute exactly what the diffusers module computes
(SD1.5 and SDXL layouts, folder / variant / single file); wrong inputs fail loudly, naming the input."""
from __future__ import annotations

import pytest
import torch

from rectiflow.testing.comfy_host import pack_module

from reflow_helpers import (POOLED_DIM, VARIANT, save_folder, save_single, save_state_dict, text_embedding,
                            tiny_unet)

pytestmark = pytest.mark.usefixtures("comfy", "one_thread")


def reflow_unet():
    return pack_module("nodes.reflow_unet")


def load(path, base="sd15", **options):
    ru = reflow_unet()
    return ru.load_sd_unet(path, family_name="TestFamily", base=base, input_name="unet", **options)


@pytest.fixture(scope="module")
def unets():
    return {"sd15": tiny_unet("sd15"), "sdxl": tiny_unet("sdxl")}


def diffusers_output(unet, x, t, context, pooled=None, size=(64, 64)):
    extra = {}
    if pooled is not None:
        time_ids = torch.tensor([[size[0], size[1], 0, 0, size[0], size[1]]], dtype=torch.float32)
        extra["added_cond_kwargs"] = {"text_embeds": pooled, "time_ids": time_ids.repeat(x.shape[0], 1)}
    with torch.no_grad():
        return unet(x, t, encoder_hidden_states=context, **extra).sample


def comfy_output(patcher, x, t, context, pooled=None, size=(64, 64)):
    model = patcher.model
    y = None
    if pooled is not None:
        y = model.encode_adm(pooled_output=pooled, height=size[0], width=size[1])
    with torch.no_grad():
        return model.diffusion_model(x, t, context=context, y=y)


@pytest.mark.parametrize("base", ["sd15", "sdxl"])
@pytest.mark.parametrize("form", ["folder", "variant", "single", "single_with_config"])
def test_comfy_unet_computes_what_diffusers_computes(unets, tmp_path, base, form):
    unet = unets[base]
    if form.startswith("single"):
        path = save_single(unet, tmp_path / "unet.safetensors", with_config=form.endswith("config"))
    else:
        path = save_folder(unet, tmp_path / "unet", variant=VARIANT if form == "variant" else None)
    patcher = load(path, base=base, variant=VARIANT if form == "variant" else None)
    x = torch.randn((2, 4, 8, 8), generator=torch.Generator().manual_seed(1))
    t = torch.tensor([999.0, 250.5])
    context = text_embedding(2)
    pooled = torch.randn((2, POOLED_DIM), generator=torch.Generator().manual_seed(2)) if base == "sdxl" else None
    expected = diffusers_output(unet, x, t, context, pooled)
    got = comfy_output(patcher, x, t, context, pooled)
    assert expected.abs().mean() > 0.05   # a real signal, not a zero layer
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_negate_output_and_sampling_factory(unets, tmp_path):
    ru = reflow_unet()
    path = save_folder(unets["sd15"], tmp_path / "unet")
    plain, flipped = load(path), load(path, negate_output=True, model_sampling_factory=ru.flow_model_sampling)
    x, t, context = torch.randn((1, 4, 8, 8)), torch.tensor([500.0]), text_embedding(1)
    torch.testing.assert_close(comfy_output(flipped, x, t, context), -comfy_output(plain, x, t, context))
    assert (plain.model.model_type.name, flipped.model.model_type.name) == ("EPS", "FLOW")
    assert pack_module("nodes.flow_models").is_flow_model(flipped)
    assert not pack_module("nodes.flow_models").is_flow_model(plain)
    assert flipped.model.model_sampling.timestep(torch.tensor(0.25)).item() == pytest.approx(250.0)


def error_text(path, base="sd15", **options) -> str:
    with pytest.raises(ValueError) as info:
        load(path, base=base, **options)
    message = str(info.value)
    assert message.startswith("unet: ") and message.isascii()
    return message


def test_other_base_is_refused(unets, tmp_path):
    assert "expects an SD1.5 UNet" in error_text(save_folder(unets["sdxl"], tmp_path / "xl"), base="sd15")
    assert "expects an SDXL UNet" in error_text(save_folder(unets["sd15"], tmp_path / "sd"), base="sdxl")
    assert "expects an SD1.5 UNet" in error_text(save_single(unets["sdxl"], tmp_path / "xl.safetensors"))


def test_ldm_and_foreign_files_are_refused(unets, tmp_path):
    ldm = {f"model.diffusion_model.{k}": v for k, v in unets["sd15"].state_dict().items()}
    assert "full ComfyUI/ldm checkpoint" in error_text(save_state_dict(ldm, tmp_path / "full.safetensors"))
    comfy_layout = {"input_blocks.0.0.weight": torch.zeros(32, 4, 3, 3)}
    assert "ComfyUI/ldm key layout" in error_text(save_state_dict(comfy_layout, tmp_path / "ldm.safetensors"))
    vae = {"encoder.conv_in.weight": torch.zeros(8, 3, 3, 3)}
    message = error_text(save_state_dict(vae, tmp_path / "vae.safetensors"))
    assert "not a diffusers UNet" in message and "TestFamily expects a diffusers UNet2DConditionModel" in message


def test_pickles_and_corrupt_files_are_refused(unets, tmp_path):
    for suffix in (".ckpt", ".pt", ".bin"):
        (tmp_path / f"unet{suffix}").write_bytes(b"not opened")
        assert "rectiflow-convert-ckpt" in error_text(tmp_path / f"unet{suffix}")
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "diffusion_pytorch_model.bin").write_bytes(b"not opened")
    assert "rectiflow-convert-ckpt" in error_text(folder)
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 64)
    assert "corrupt or not a safetensors file" in error_text(tmp_path / "bad.safetensors")
    assert "does not exist" in error_text(tmp_path / "missing.safetensors")


def test_variant_errors(unets, tmp_path):
    path = save_folder(unets["sd15"], tmp_path / "unet", variant=VARIANT)
    message = error_text(path)
    assert "no 'diffusion_pytorch_model.safetensors'" in message and VARIANT in message
    assert "not a variant name" in str(pytest.raises(ValueError, load, path, variant="../x").value)


def tampered_folder(unet, tmp_path, change) -> object:
    """A diffusers folder whose weights file went through `change(state_dict)`."""
    folder = save_folder(unet, tmp_path / "unet")
    tensors = {k: v.clone() for k, v in unet.state_dict().items()}
    change(tensors)
    save_state_dict(tensors, folder / "diffusion_pytorch_model.safetensors")
    return folder


def test_missing_unexpected_and_misshaped_tensors_are_refused(unets, tmp_path):
    unet = unets["sd15"]
    missing = tampered_folder(unet, tmp_path / "a", lambda t: t.pop("conv_out.bias"))
    assert "1 missing and 0 unexpected" in error_text(missing) and "conv_out.bias" in error_text(missing)
    extra = tampered_folder(unet, tmp_path / "b", lambda t: t.update({"extra.weight": torch.zeros(1)}))
    assert "unexpected tensor" in error_text(extra) and "extra.weight" in error_text(extra)
    shaped = tampered_folder(unet, tmp_path / "c", lambda t: t.update({"conv_in.bias": torch.zeros(31)}))
    assert "wrong shape" in error_text(shaped) and "'conv_in.bias' is [31], expected [32]" in error_text(shaped)


def test_unsupported_config_is_refused(unets, tmp_path):
    folder = save_folder(unets["sd15"], tmp_path / "unet")
    config = (folder / "config.json").read_text().replace('"time_cond_proj_dim": null', '"time_cond_proj_dim": 256')
    (folder / "config.json").write_text(config)
    assert "time_cond_proj_dim = 256 is not supported" in error_text(folder)


def test_read_unet_state_dict_maps_to_comfy_keys(unets, tmp_path):
    ru = reflow_unet()
    path = save_folder(unets["sd15"], tmp_path / "unet")
    mapped, unet_config = ru.read_unet_state_dict(path, family_name="TestFamily", base="sd15", input_name="unet")
    model_keys = set(load(path).model.diffusion_model.state_dict())
    assert set(mapped) == model_keys and unet_config["context_dim"] == 32


def test_sharded_folder_loads_and_a_shard_outside_the_folder_is_refused(unets, tmp_path):
    unet = unets["sd15"]
    folder = tmp_path / "sharded"
    unet.save_pretrained(str(folder), safe_serialization=True, max_shard_size="300KB")
    index = folder / "diffusion_pytorch_model.safetensors.index.json"
    assert index.is_file() and len(list(folder.glob("*.safetensors"))) > 1
    x, t, context = torch.randn((1, 4, 8, 8)), torch.tensor([700.0]), text_embedding(1)
    torch.testing.assert_close(comfy_output(load(folder), x, t, context), diffusers_output(unet, x, t, context),
                               rtol=1e-4, atol=1e-4)
    index.write_text(index.read_text().replace('"diffusion_pytorch_model-00001', '"../diffusion_pytorch_model-00001'))
    assert "expected .safetensors file names in the same folder" in error_text(folder)
