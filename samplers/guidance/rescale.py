"""Guidance rescale: the guided prediction pulled towards the conditional one's std (arXiv 2305.08891)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from .common import SigmaLike, cfg, per_sample, per_sample_std, sigma_like, x0_to_velocity_or
from .validation import check_choice, check_pair, check_real, validate_sigma, validate_weight

RESCALE_SPACES = ("v", "x0")


def blend_std(guided: Tensor, reference: Tensor, phi: float) -> Tensor:
    """eq. 15-16 on any prediction: phi guided std(ref) / std(guided) + (1 - phi) guided, per sample (population
    std; the ratio does not depend on the correction); unchecked."""
    ratio = per_sample_std(reference) / per_sample_std(guided)
    ratio = torch.where(torch.isfinite(ratio), ratio, torch.ones_like(ratio))
    return phi * guided * per_sample(ratio, guided) + (1 - phi) * guided


@dataclass(frozen=True)
class Rescale:
    """Guidance-rescale parameters, checked when built.

    space "v" (default) rescales the flow velocity itself, the flow model's raw output, as the paper rescales its
    v-prediction output. space "x0" rescales x0 = x - sigma v. ComfyUI's RescaleCFG instead converts to the
    VP/EDM v-prediction (x / (sigma^2 + 1) - x0) sqrt(sigma^2 + 1) / sigma, which for flow models is neither.
    """
    w: float = 4.0
    phi: float = 0.7
    space: str = "v"

    def __post_init__(self):
        validate_weight(self.w)
        check_real("phi", self.phi, 0.0, 1.0)
        check_choice("space", self.space, RESCALE_SPACES)

    def rescale(self, guided: Tensor, v_cond: Tensor, x: Tensor | None = None,
                sigma: SigmaLike | None = None) -> Tensor:
        """A guided velocity rescaled towards v_cond's std, in velocity or x0 space (x0 needs x and sigma; the
        guided velocity is kept where sigma = 0)."""
        if self.space == "v":
            return blend_std(guided, v_cond, self.phi)
        s = sigma_like(sigma, x)
        x0 = blend_std(x - s * guided, x - s * v_cond, self.phi)
        return x0_to_velocity_or(x, s, x0, guided)


def std_rescale(guided: Tensor, reference: Tensor, phi: float) -> Tensor:
    """Guidance rescale's blend (arXiv 2305.08891 eq. 15-16) of any guided prediction towards the std of
    `reference`, phi checked."""
    check_pair(guided, reference, "guided", "reference")
    return Rescale(phi=phi).rescale(guided, reference)


def rescale_cfg(v_cond: Tensor, v_uncond: Tensor, *, w: float, phi: float = 0.7, space: Literal["v", "x0"] = "v",
                x: Tensor | None = None, sigma: SigmaLike | None = None) -> Tensor:
    """Guidance rescale (arXiv 2305.08891 eq. 15-16), parameters checked: g = cfg; g_r = g std(c) / std(g);
    out = phi g_r + (1 - phi) g, see Rescale."""
    check_pair(v_cond, v_uncond)
    law = Rescale(w, phi, space)
    if space == "x0":
        if x is None or sigma is None:
            raise ValueError("space='x0' needs x and sigma")
        check_pair(v_cond, x, "v_cond", "x")
        validate_sigma(sigma)
    return law.rescale(cfg(v_cond, v_uncond, w), v_cond, x, sigma)
