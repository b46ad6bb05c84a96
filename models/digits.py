"""Tiny class-conditional rectified-flow UNet and evaluation classifier for 16x16 digits.

Pure torch (never imports comfy). ComfyUI builds `DigitsUNet` through `comfy.model_base.BaseModel`,
which passes `operations` (comfy.ops) so weights are cast like any stock architecture.
Time input: `t = 1000 * sigma` (ComfyUI's ModelSamplingDiscreteFlow with multiplier 1000).
Conditioning: a one-hot context of shape [B, L, NUM_CLASSES + 1]; the last slot is the null label.
Output: velocity v = eps - x0 (docs/design.md, "Time convention").
"""
from __future__ import annotations

import math

import torch
from torch import nn

NUM_CLASSES = 10
NULL_LABEL = NUM_CLASSES
IMAGE_SIZE = 16
DEFAULT_CONFIG = {"in_channels": 1, "base_channels": 32, "channel_mults": [1, 2, 2], "emb_dim": 128}


def label_one_hot(labels: torch.Tensor) -> torch.Tensor:
    """[B] int labels (NULL_LABEL for unconditional) -> [B, 1, NUM_CLASSES + 1] context."""
    return nn.functional.one_hot(labels.long(), NUM_CLASSES + 1).float().unsqueeze(1)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of [B] timesteps in [0, 1000]."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, ops, device=None, dtype=None):
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.norm1 = ops.GroupNorm(8, cin, **kw)
        self.conv1 = ops.Conv2d(cin, cout, 3, padding=1, **kw)
        self.emb = ops.Linear(emb_dim, cout, **kw)
        self.norm2 = ops.GroupNorm(8, cout, **kw)
        self.conv2 = ops.Conv2d(cout, cout, 3, padding=1, **kw)
        self.skip = ops.Conv2d(cin, cout, 1, **kw) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(nn.functional.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(nn.functional.silu(self.norm2(h)))
        return self.skip(x) + h


class DigitsUNet(nn.Module):
    """Class-conditional UNet predicting flow velocity for 16x16 single-channel digits."""

    def __init__(self, in_channels: int = 1, base_channels: int = 32, channel_mults=(1, 2, 2), emb_dim: int = 128,
                 device=None, dtype=None, operations=None, **_ignored):
        super().__init__()
        ops = operations if operations is not None else nn
        kw = {"device": device, "dtype": dtype}
        self.dtype = dtype if dtype is not None else torch.float32
        self.emb_dim = emb_dim
        self.time_mlp = nn.Sequential(ops.Linear(emb_dim, emb_dim, **kw), nn.SiLU(), ops.Linear(emb_dim, emb_dim, **kw))
        self.label_proj = ops.Linear(NUM_CLASSES + 1, emb_dim, **kw)
        chans = [base_channels * m for m in channel_mults]
        self.stem = ops.Conv2d(in_channels, chans[0], 3, padding=1, **kw)
        self.down = nn.ModuleList()
        cin = chans[0]
        for c in chans:
            self.down.append(ResBlock(cin, c, emb_dim, ops, **kw))
            cin = c
        self.mid = ResBlock(cin, cin, emb_dim, ops, **kw)
        self.up = nn.ModuleList()
        for c in reversed(chans):
            self.up.append(ResBlock(cin + c, c, emb_dim, ops, **kw))
            cin = c
        self.out_norm = ops.GroupNorm(8, cin, **kw)
        self.out = ops.Conv2d(cin, in_channels, 3, padding=1, **kw)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, context: torch.Tensor | None = None,
                **_kwargs) -> torch.Tensor:
        """x [B, C, H, W], timesteps [B] = 1000 * sigma, context [B, L, 11] one-hot -> velocity [B, C, H, W]."""
        emb = self.time_mlp(timestep_embedding(timesteps, self.emb_dim).to(x.dtype))
        if context is None:
            context = label_one_hot(torch.full((x.shape[0],), NULL_LABEL, device=x.device)).to(x.dtype)
        emb = nn.functional.silu(emb + self.label_proj(context.mean(dim=1)))
        h = self.stem(x)
        skips = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            skips.append(h)
            if i < len(self.down) - 1:
                h = nn.functional.avg_pool2d(h, 2)
        h = self.mid(h, emb)
        for i, block in enumerate(self.up):
            skip = skips.pop()
            if h.shape[-1] != skip.shape[-1]:
                h = nn.functional.interpolate(h, size=skip.shape[-2:], mode="nearest")
            h = block(torch.cat([h, skip], dim=1), emb)
        return self.out(nn.functional.silu(self.out_norm(h)))


class DigitsClassifier(nn.Module):
    """Small CNN classifier of 16x16 digits in [-1, 1]; used only to evaluate samples."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.SiLU(), nn.Conv2d(width, width, 3, padding=1), nn.SiLU(),
            nn.AvgPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.SiLU(), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * 16, 128), nn.SiLU(),
        )
        self.head = nn.Linear(128, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def load_digits_classifier(path) -> DigitsClassifier:
    """Load the shipped evaluation classifier from safetensors."""
    from safetensors.torch import load_file

    clf = DigitsClassifier()
    clf.load_state_dict(load_file(str(path)))
    return clf.eval()


@torch.no_grad()
def classify(classifier: DigitsClassifier, images: torch.Tensor) -> torch.Tensor:
    """[B, 1, 16, 16] digits in [-1, 1] -> [B] predicted labels."""
    return classifier(images.float().clamp(-1, 1)).argmax(dim=1)
