"""What every flow solver shares: the velocity from ComfyUI's denoiser, the compute dtype, the preview callback.

Convention (docs/design.md): `model(x, sigma * s_in, **extra_args)` returns the denoised estimate x0_hat and the flow
velocity is v = (x - x0_hat) / sigma, dx/dsigma = v.
"""
from __future__ import annotations

from typing import Callable

import torch

from ..schedules import validate_sigmas

Callback = Callable[[dict], None] | None
Velocity = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Step = Callable[[Velocity, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def flow_velocity(model, x: torch.Tensor, sigma: torch.Tensor, extra_args: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(v, x0_hat) at one sigma with v = (x - x0_hat) / sigma.

    At sigma = 0 the velocity is known exactly without a model call: the noise is independent of the data, so
    v(x, 0) = E[eps - x0 | x0 = x] = -x and x0_hat = x (docs/design.md). This holds for any guided combination too,
    since every conditioning agrees there. Runge-Kutta stages and history points at sigma = 0 are therefore free and
    keep the method's order all the way to sigma = 0.
    """
    if float(sigma) == 0.0:
        return -x, x
    s_in = x.new_ones([x.shape[0]])
    denoised = model(x, sigma * s_in, **extra_args).to(x.dtype)
    return (x - denoised) / sigma, denoised


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """Solvers compute in float32 at least (bf16/fp16 latents are upcast; float64 stays float64)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def report_step(callback: Callback, i: int, x: torch.Tensor, sigma: torch.Tensor, sigma_hat: torch.Tensor,
            denoised: torch.Tensor) -> None:
    if callback is not None:
        callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma_hat, "denoised": denoised})


def prepare(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None
             ) -> tuple[torch.Tensor, torch.Tensor, Velocity]:
    """Validated sigmas and x in the compute dtype, and the velocity function (x, sigma) -> (v, x0_hat)."""
    extra_args = {} if extra_args is None else extra_args
    dtype = compute_dtype(x)
    sigmas = validate_sigmas(sigmas).to(device=x.device, dtype=dtype)
    return x.to(dtype), sigmas, lambda y, sigma: flow_velocity(model, y, sigma, extra_args)


def combine(weights, vectors: list[torch.Tensor]) -> torch.Tensor:
    """sum_j weights[j] * vectors[j], skipping zero weights."""
    terms = [w * v for w, v in zip(weights, vectors) if w != 0]
    return sum(terms[1:], terms[0])
