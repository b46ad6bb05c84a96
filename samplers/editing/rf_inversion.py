"""RF-Inversion: semantic image inversion and editing with rectified stochastic equivalents (Rout et al.,
arXiv 2410.10792), written in ComfyUI's sigma convention (sigma = 0 image, 1 noise).

The paper (and its diffusers pipeline) runs time t = 1 - sigma. Converted, its two controlled ODEs are
- forward, Eq. 8, image y0 -> noise y1: dY/dsigma = v(Y, s) + gamma * ((y1 - Y) / (1 - s) - v(Y, s)),
- reverse, Eq. 15 (ODE form of Eq. 17), noise -> image: dX/dsigma = v(X, s) + eta_i * ((X - y0) / s - v(X, s)),
with eta_i = eta for start_step <= i < stop_step and 0 after. Both are integrated with Euler steps, as officially.
gamma = 0 is plain Euler inversion; eta = 0 is plain Euler sampling.
"""
from __future__ import annotations

import torch

from .common import Callback, Velocity, compute, decreasing_sigmas, report


def check_rf_inversion_options(gamma: float, eta: float, start_step: int, stop_step: int) -> None:
    """Raise naming the option that is out of range (gamma, eta in [0, 1], 0 <= start_step <= stop_step)."""
    for name, value in (("gamma", gamma), ("eta", eta)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: expected a controller gain in [0, 1], got {value!r}")
    if start_step < 0 or stop_step < start_step:
        raise ValueError(f"stop_step: expected 0 <= start_step <= stop_step, got start {start_step}, stop {stop_step}")


def controlled_inversion(v_src: Velocity, y0: torch.Tensor, y1: torch.Tensor, sigmas_up: list[float], gamma: float,
                         callback: Callback = None) -> torch.Tensor:
    """Eq. 8 of arXiv 2410.10792 with Euler steps over increasing `sigmas_up` (each below 1 where a step starts):
    Y <- Y + (s_next - s) * (v + gamma * ((y1 - Y) / (1 - s) - v)). Returns Y at sigmas_up[-1]."""
    y = compute(y0)
    for i, (sigma, sigma_next) in enumerate(zip(sigmas_up, sigmas_up[1:])):
        v = v_src(y, sigma)
        if gamma != 0.0:
            v = v + gamma * ((y1 - y) / (1.0 - sigma) - v)
        y = y + (sigma_next - sigma) * v
        report(callback, i, y, y0, sigma)
    return y


def regeneration_gain(i: int, eta: float, start_step: int, stop_step: int) -> float:
    return eta if start_step <= i < stop_step else 0.0


def controlled_regeneration(v_tar: Velocity, x: torch.Tensor, y0: torch.Tensor, sigmas: list[float], eta: float,
                            start_step: int, stop_step: int, callback: Callback = None, first_step: int = 0
                            ) -> torch.Tensor:
    """Eq. 15/17 of arXiv 2410.10792 with Euler steps over decreasing `sigmas` (positive where a step starts):
    X <- X + (s_next - s) * (v + eta_i * ((X - y0) / s - v)). Returns X at sigmas[-1]."""
    x = compute(x)
    for i, (sigma, sigma_next) in enumerate(zip(sigmas, sigmas[1:])):
        v = v_tar(x, sigma)
        gain = regeneration_gain(i, eta, start_step, stop_step)
        if gain != 0.0:
            v = v + gain * ((x - y0) / sigma - v)
        report(callback, first_step + i, x, x - sigma * v, sigma)
        x = x + (sigma_next - sigma) * v
    return x


def rf_inversion(v_src: Velocity, v_tar: Velocity, y0: torch.Tensor, y1: torch.Tensor, sigmas: torch.Tensor,
                 gamma: float = 0.5, eta: float = 0.9, start_step: int = 0, stop_step: int = 7,
                 callback: Callback = None) -> torch.Tensor:
    """RF-Inversion (arXiv 2410.10792): invert the image y0 toward the noise y1 with v_src over the flipped
    `sigmas` (decreasing, T steps), then regenerate with v_tar over `sigmas`; 2T model calls (T at sigma = 0 is
    free when the velocity callable knows v(x, 0) = -x). Step numbers in `callback` run 0 .. 2T - 1."""
    check_rf_inversion_options(gamma, eta, start_step, stop_step)
    values = decreasing_sigmas(sigmas)
    y0, y1 = compute(y0), compute(y1)
    inverted = controlled_inversion(v_src, y0, y1, values[::-1], gamma, callback)
    steps = len(values) - 1
    return controlled_regeneration(v_tar, inverted, y0, values, eta, start_step, stop_step, callback, steps)
