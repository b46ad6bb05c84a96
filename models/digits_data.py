"""The real digits the embedded model was trained on: scikit-learn's handwritten digits (1,797 8x8 images),
bilinearly upsampled to 16x16 and scaled to [-1, 1]. Shared by scripts/train_digits.py and the benchmarks.

Pure torch (never imports comfy); scikit-learn is imported only when the data is loaded.
"""
from __future__ import annotations

import functools
import json

import torch

from .digits import IMAGE_SIZE, NULL_LABEL

FORMAT_VERSION = "1"


def load_dataset() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as [N, 1, 16, 16] in [-1, 1] and [N] labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    images = torch.nn.functional.interpolate(images, size=(IMAGE_SIZE, IMAGE_SIZE), mode="bilinear",
                                             align_corners=False)
    return images.clamp(0, 1) * 2 - 1, torch.tensor(data.target, dtype=torch.long)


@functools.cache
def real_digits() -> torch.Tensor:
    """The dataset's images [N, 1, 16, 16] in [-1, 1], loaded once per process (callers must not modify them)."""
    return load_dataset()[0]


def checkpoint_metadata(kind: str, config: dict, seed: int, steps: int) -> dict[str, str]:
    """The safetensors header of a digits checkpoint (RectiFlow Digits Model Loader checks format, kind, architecture)."""
    return {
        "format": "rectiflow.digits",
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "architecture": json.dumps(config),
        "time_convention": "comfyui-const: x_sigma=(1-sigma)*x0+sigma*eps, sigma=1 noise; input t=1000*sigma",
        "parameterization": "velocity v=eps-x0" if kind == "flow" else "logits",
        "data": "sklearn.datasets.load_digits, 1797 images upsampled bilinear to 16x16, scaled to [-1,1]",
        "seed": str(seed),
        "train_steps": str(steps),
        "null_label": str(NULL_LABEL),
    }
