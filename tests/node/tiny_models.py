"""ComfyUI's own Flux and SD3 architectures at tiny sizes with random weights, as real ComfyUI MODELs."""
from __future__ import annotations

import torch

TINY_FLUX = {"image_model": "flux", "in_channels": 16, "out_channels": 16, "vec_in_dim": 32, "context_in_dim": 32,
             "hidden_size": 64, "mlp_ratio": 2.0, "num_heads": 2, "depth": 1, "depth_single_blocks": 1,
             "axes_dim": [8, 12, 12], "theta": 10000, "patch_size": 2, "qkv_bias": True, "guidance_embed": False}
TINY_SD3 = {"in_channels": 16, "out_channels": 16, "patch_size": 2, "depth": 1, "pos_embed_max_size": 16,
            "num_patches": 256, "adm_in_channels": 32,
            "context_embedder_config": {"target": "torch.nn.Linear", "params": {"in_features": 32, "out_features": 64}}}
CONTEXT_DIM = 32


def _patcher(config_cls, unet_config: dict, seed: int):
    import comfy.model_management
    import comfy.model_patcher

    config = config_cls(dict(unet_config))
    config.set_inference_dtype(torch.float32, None)
    model = config.get_model({}, device=comfy.model_management.unet_offload_device())
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # ComfyUI leaves weights and buffers (SD3's pos_embed) uninitialised
        for t in [*model.diffusion_model.parameters(), *model.diffusion_model.buffers()]:
            t.copy_(torch.randn(t.shape, generator=gen) * 0.05)
    return comfy.model_patcher.ModelPatcher(model, load_device=comfy.model_management.get_torch_device(),
                                            offload_device=comfy.model_management.unet_offload_device())


def tiny_flux(seed: int = 0):
    import comfy.supported_models

    return _patcher(comfy.supported_models.FluxSchnell, TINY_FLUX, seed)


def tiny_sd3(seed: int = 0):
    import comfy.supported_models

    return _patcher(comfy.supported_models.SD3, TINY_SD3, seed)


def text_conditioning(seed: int, tokens: int = 4):
    """CONDITIONING like a text encoder's: [1, tokens, CONTEXT_DIM] plus a pooled vector."""
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(1, tokens, CONTEXT_DIM, generator=gen),
             {"pooled_output": torch.randn(1, CONTEXT_DIM, generator=gen)}]]


def latent(batch: int = 2, size: int = 8):
    return {"samples": torch.zeros(batch, 16, size, size)}
