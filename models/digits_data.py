"""The real digits the embedded model was trained on: scikit-learn's handwritten digits (1,797 8x8 images),
bilinearly upsampled to 16x16 and scaled to [-1, 1]. Shared by scripts/train_digits.py and the benchmarks.

Pure torch (never imports comfy); scikit-learn is imported only when the data is loaded.
"""
from __future__ import annotations

import functools

import torch

from .digits import IMAGE_SIZE


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
