"""ComfyUI MASK -> latent-resolution weight for the editing operators (pure torch + kornia, never imports comfy).

A ComfyUI MASK is a float tensor [H, W] or [B, H, W] in [0, 1] at image resolution (1 = the region to change).
Operators that take a mask (FlowChef, UniEdit, inpainting-style edits) resize it to the latent with kornia."""
from __future__ import annotations

from typing import Sequence

import torch
from kornia.geometry.transform import resize


def _as_batched(mask: torch.Tensor, name: str) -> torch.Tensor:
    """[H, W], [B, H, W] or [B, 1, H, W] -> [B, 1, H, W] float."""
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"{name}: expected a MASK tensor, got {type(mask).__name__}")
    if mask.ndim == 2:
        mask = mask[None]
    if mask.ndim == 4 and mask.shape[1] == 1:
        mask = mask[:, 0]
    if mask.ndim != 3 or min(mask.shape) == 0:
        raise ValueError(f"{name}: expected a MASK shaped [H, W] or [batch, H, W], got shape {list(mask.shape)}")
    if not bool(torch.isfinite(mask).all()):
        raise ValueError(f"{name}: the mask contains NaN or infinite values")
    return mask[:, None].float()


def _check_aspect(height: int, width: int, h: int, w: int, name: str) -> None:
    """The mask must cover the latent's image: its aspect ratio within one latent cell of the latent's."""
    cell = max(height / h, width / w)
    if abs(width - height * w / h) > cell or abs(height - width * h / w) > cell:
        raise ValueError(f"{name}: expected a mask with the image's aspect ratio ({h} x {w} latent, e.g. "
                         f"{8 * h} x {8 * w} pixels), got {height} x {width}")


def _match_batch(mask: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    if mask.shape[0] == batch:
        return mask
    if mask.shape[0] == 1:
        return mask.expand(batch, *mask.shape[1:])
    raise ValueError(f"{name}: expected 1 mask or one per latent ({batch}), got a batch of {mask.shape[0]}")


def mask_to_latent(mask: torch.Tensor, latent_shape: Sequence[int], name: str = "mask") -> torch.Tensor:
    """A ComfyUI MASK as a weight in [0, 1] at the latent's resolution: [B, 1, h, w] (or [B, 1, 1, h, w] for a
    5-D video latent). Area-style (antialiased bilinear) resize with kornia; one mask serves every latent of the
    batch. Raises ValueError naming `name` for a wrong shape, aspect ratio or batch."""
    if len(latent_shape) < 4:
        raise ValueError(f"latent: expected a latent [batch, channels, (frames,) h, w], got shape {list(latent_shape)}")
    batch, (h, w) = int(latent_shape[0]), (int(latent_shape[-2]), int(latent_shape[-1]))
    mask = _as_batched(mask, name)
    _check_aspect(mask.shape[-2], mask.shape[-1], h, w, name)
    if tuple(mask.shape[-2:]) != (h, w):
        mask = resize(mask, (h, w), interpolation="bilinear", align_corners=False, antialias=True)
    mask = _match_batch(mask.clamp(0.0, 1.0), batch, name)
    return mask.reshape(batch, 1, *([1] * (len(latent_shape) - 4)), h, w)
