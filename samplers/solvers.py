"""Rectified-flow ODE solvers in the k-diffusion sampler signature (pure torch, never imports comfy).

Every solver is `fn(model, x, sigmas, extra_args=None, callback=None, disable=None, **options) -> x`, so
`comfy.samplers.KSAMPLER(fn)` wraps it unchanged. `model(x, sigma * s_in, **extra_args)` returns the
denoised estimate x0_hat; for the flow (CONST) convention the velocity is v = (x - x0_hat) / sigma.
Sigmas decreasing generate (noise -> data); increasing invert (data -> noise).
"""
from __future__ import annotations

from typing import Callable

import torch

from .schedules import validate_sigmas

Callback = Callable[[dict], None] | None


def flow_velocity(model, x: torch.Tensor, sigma: torch.Tensor, extra_args: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(v, x0_hat) at one sigma with v = (x - x0_hat) / sigma.

    At sigma = 0 the noise is independent of x, so E[eps | x] = 0 and the exact marginal velocity is v = -x
    (CONST returns x0_hat = x there and the model's own output is unreachable).
    """
    s_in = x.new_ones([x.shape[0]])
    denoised = model(x, sigma * s_in, **extra_args).to(x.dtype)
    if float(sigma) == 0.0:
        return -x, denoised
    return (x - denoised) / sigma, denoised


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """Solvers compute in float32 at least (bf16/fp16 latents are upcast; float64 stays float64)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _report(callback: Callback, i: int, x: torch.Tensor, sigma: torch.Tensor, sigma_hat: torch.Tensor,
            denoised: torch.Tensor) -> None:
    if callback is not None:
        callback({"x": x, "i": i, "sigma": sigma, "sigma_hat": sigma_hat, "denoised": denoised})


@torch.no_grad()
def sample_flow_euler(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                      callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """Explicit Euler on dx/dsigma = v (rectified flow, arXiv 2209.03003 eq. 1): x' = x + (sigma' - sigma) v."""
    extra_args = {} if extra_args is None else extra_args
    sigmas = validate_sigmas(sigmas).to(x.device)
    out_dtype = x.dtype
    x = x.to(compute_dtype(x))
    for i in range(len(sigmas) - 1):
        v, denoised = flow_velocity(model, x, sigmas[i], extra_args)
        _report(callback, i, x, sigmas[i], sigmas[i], denoised)
        x = x + (sigmas[i + 1] - sigmas[i]) * v
    return x.to(out_dtype)
