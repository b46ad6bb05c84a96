"""Tiny random-weight diffusers UNets in SD1.5's and SDXL's exact key layouts, saved the ways reflow checkpoints
ship (diffusers folder, with a variant, single .safetensors, delta), for the reflow loader tests.

Nothing is downloaded: diffusers (a test extra) builds the modules; their weights get a seeded random offset so
no layer is zero and every output depends on every tensor.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch

CONTEXT_DIM = 32           # text-embedding width of the tiny models (SD1.5: 768, SDXL: 2048)
POOLED_DIM = 32            # SDXL pooled text width of the tiny model (SDXL: 1280)
SDXL_TIME_DIM = 256        # SDXL's addition_time_embed_dim (ComfyUI's SDXL embeds size/crop with 256)
VARIANT = "v0-1"

SD15_CONFIG = dict(
    sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
    down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    cross_attention_dim=CONTEXT_DIM, attention_head_dim=8, norm_num_groups=32,
)
SDXL_CONFIG = dict(
    sample_size=8, in_channels=4, out_channels=4, block_out_channels=(64, 128), layers_per_block=1,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    transformer_layers_per_block=(1, 2), attention_head_dim=(1, 2), cross_attention_dim=CONTEXT_DIM,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=SDXL_TIME_DIM,
    projection_class_embeddings_input_dim=POOLED_DIM + 6 * SDXL_TIME_DIM, norm_num_groups=32,
)
CONFIGS = {"sd15": SD15_CONFIG, "sdxl": SDXL_CONFIG}


def tiny_unet(base: str = "sd15", seed: int = 0, **overrides):
    """A diffusers UNet2DConditionModel in `base`'s layout with seeded random weights (float32, eval mode)."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(**{**CONFIGS[base], **overrides}).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in unet.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    return unet


def save_folder(unet, folder: Path, variant: str | None = None) -> Path:
    """A diffusers folder: config.json + diffusion_pytorch_model[.variant].safetensors."""
    unet.save_pretrained(str(folder), variant=variant, safe_serialization=True)
    return folder


def save_single(unet, path: Path, with_config: bool = False) -> Path:
    """One .safetensors with diffusers keys (optionally <stem>.json beside it holding the config)."""
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, str(path))
    if with_config:
        path.with_suffix(".json").write_text(json.dumps(dict(unet.config)), encoding="utf-8")
    return path


def save_state_dict(tensors: dict[str, torch.Tensor], path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))
    return path


def random_delta(unet, seed: int = 7, scale: float = 0.01) -> dict[str, torch.Tensor]:
    """A delta state dict Delta W (diffusers keys, same shapes as `unet`) with small seeded random entries."""
    generator = torch.Generator().manual_seed(seed)
    return {k: scale * torch.randn(v.shape, generator=generator) for k, v in unet.state_dict().items()}


def save_delta_folder(unet, folder: Path, seed: int = 7) -> tuple[Path, dict[str, torch.Tensor]]:
    """A diffusers-keyed delta folder (config.json + weights) as PeRFlow's delta releases ship; returns the delta."""
    delta = random_delta(unet, seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(dict(unet.config)), encoding="utf-8")
    save_state_dict(delta, folder / "diffusion_pytorch_model.safetensors")
    return folder, delta


def text_embedding(batch: int = 1, tokens: int = 7, seed: int = 3) -> torch.Tensor:
    """Random CLIP-like hidden states [batch, tokens, CONTEXT_DIM]."""
    return torch.randn((batch, tokens, CONTEXT_DIM), generator=torch.Generator().manual_seed(seed))


def conditioning(embedding: torch.Tensor, pooled: torch.Tensor | None = None) -> list:
    """CONDITIONING built directly from tensors, as a CLIP text encode would hand it."""
    return [[embedding, {} if pooled is None else {"pooled_output": pooled}]]


def record_timesteps(module: torch.nn.Module, log: list[float]):
    """Record the network timestep of every forward call of `module` (args[1] or timestep/timesteps keyword)."""
    def hook(_module, args, kwargs):
        t = args[1] if len(args) > 1 else kwargs.get("timestep", kwargs.get("timesteps"))
        values = torch.as_tensor(t, dtype=torch.float64).flatten().unique().tolist()
        log.extend(v for v in values if not log or abs(log[-1] - v) > 1e-9)
    return module.register_forward_pre_hook(hook, with_kwargs=True)


@contextlib.contextmanager
def comfy_model_folder(kind: str, folder: Path):
    """Let ComfyUI's folder_paths list `folder` under model folder `kind` ("diffusers", "diffusion_models")."""
    import folder_paths

    folder_paths.add_model_folder_path(kind, str(folder))
    try:
        yield folder
    finally:
        folder_paths.folder_names_and_paths[folder_paths.map_legacy(kind)][0].remove(str(folder))
        folder_paths.filename_list_cache.pop(folder_paths.map_legacy(kind), None)


def official_rf_sample(unet, noise: torch.Tensor, embedding: torch.Tensor, steps: int, guidance: float = 1.0,
                       negative: torch.Tensor | None = None) -> torch.Tensor:
    """The official InstaFlow / 2-RF loop (gnobitab/InstaFlow code/pipeline_rf.py), written out independently:
    t_i = (1 - i/N) * 1000, v = unet(x, t_i), cfg v = v_neg + g (v_text - v_neg) when g > 1, x <- x + v / N."""
    latents, dt = noise.clone(), 1.0 / steps
    guided = guidance > 1.0
    context = torch.cat([negative, embedding]) if guided else embedding
    with torch.no_grad():
        for i in range(steps):
            t = (1.0 - i / steps) * 1000.0
            model_input = torch.cat([latents] * 2) if guided else latents
            v = unet(model_input, torch.ones(model_input.shape[0]) * t, encoder_hidden_states=context).sample
            if guided:
                v_neg, v_text = v.chunk(2)
                v = v_neg + guidance * (v_text - v_neg)
            latents = latents + dt * v
    return latents
