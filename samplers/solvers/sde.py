"""Flow SDE sampler with the ODE's marginals (Euler-Maruyama); generation only."""
from __future__ import annotations

from typing import Callable

import torch

from .core import Callback, NoiseSampler, prepare, report_step


def _seeded_noise_sampler(x: torch.Tensor, seed: int | None) -> NoiseSampler:
    """Standard normal noise like x; reproducible from `seed` (as k-diffusion's default_noise_sampler)."""
    generator = None
    if seed is not None:
        generator = torch.Generator(device=x.device)
        generator.manual_seed(int(seed))
    return lambda sigma, sigma_next: torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)


DIFFUSION_SHAPES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigma": lambda s: s,
    "square": lambda s: s ** 2,
    "constant": lambda s: torch.ones_like(s),
}


@torch.no_grad()
def sample_flow_sde(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None, noise_scale: float = 1.0,
                    noise_sampler: NoiseSampler | None = None, diffusion: str = "sigma") -> torch.Tensor:
    """Flow SDE with the ODE's marginals (arXiv 2503.19385): dx = (v - g^2/2 score) dsigma + g dW, Euler-Maruyama.

    score = -(x + (1 - sigma) v) / sigma and g(sigma) = noise_scale * shape(sigma), shape "sigma" (the official
    code's default), "square" or "constant". noise_scale = 0 is the Euler ODE sampler bit for bit. The step into
    sigma = 0 is the Euler step onto x0_hat without fresh noise. Noise comes from `noise_sampler(sigma, sigma_next)`,
    else from a generator seeded with extra_args["seed"] when given. Generation only.
    """
    if diffusion not in DIFFUSION_SHAPES:
        raise ValueError(f"sample_flow_sde: diffusion must be one of {sorted(DIFFUSION_SHAPES)}, got {diffusion!r}")
    if noise_scale < 0:
        raise ValueError(f"sample_flow_sde: noise_scale must be >= 0, got {noise_scale}")
    out_dtype = x.dtype
    x, sigmas, velocity = prepare(model, x, sigmas, extra_args)
    if sigmas[0] < sigmas[-1]:
        raise ValueError("sigmas: sample_flow_sde only generates (decreasing sigmas); for inversion (increasing "
                         "sigmas) use an ODE solver")
    if noise_sampler is None:
        noise_sampler = _seeded_noise_sampler(x, (extra_args or {}).get("seed"))
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        v, denoised = velocity(x, sigma)
        report_step(callback, i, x, sigma, sigma, denoised)
        h = sigma_next - sigma
        if sigma_next == 0:
            x = x + h * v
            continue
        g = noise_scale * DIFFUSION_SHAPES[diffusion](sigma)
        score = -(x + (1 - sigma) * v) / sigma
        drift = v - 0.5 * g ** 2 * score
        x = x + h * drift + g * (-h).sqrt() * noise_sampler(sigma, sigma_next).to(x)
    return x.to(out_dtype)
