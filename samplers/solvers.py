"""Rectified-flow ODE/SDE solvers in the k-diffusion sampler signature (pure torch, never imports comfy).

Every solver is `fn(model, x, sigmas, extra_args=None, callback=None, disable=None, **options) -> x`, so
`comfy.samplers.KSAMPLER(fn, extra_options)` wraps it unchanged. `model(x, sigma * s_in, **extra_args)` returns the
denoised estimate x0_hat; for the flow (CONST) convention the velocity is v = (x - x0_hat) / sigma and dx/dsigma = v.
Sigmas decreasing generate (noise -> data); increasing invert (data -> noise). Step sizes h = sigma_next - sigma
carry the direction, so every formula below serves both.

Generation never evaluates the model at sigma = 0: a fixed step whose last stage would sit at sigma = 0 (Heun,
RK3, RK4) becomes the Euler step, which lands exactly on x0_hat (k-diffusion's rule). Solvers whose stages stay
above 0 (RF-Solver, FireFlow: midpoint at sigma / 2; Adams-Bashforth: history only) keep their own update; the
predictor-corrector skips the corrector of its last step and the adaptive solver swaps its error estimate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Callable

import torch

from .schedules import validate_sigmas

Callback = Callable[[dict], None] | None
Velocity = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
Step = Callable[[Velocity, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
NoiseSampler = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SolverBudgetError(RuntimeError):
    """The adaptive solver ran out of model evaluations before reaching the last sigma."""


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


def _prepare(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None
             ) -> tuple[torch.Tensor, torch.Tensor, Velocity]:
    """Validated sigmas and x in the compute dtype, and the velocity function (x, sigma) -> (v, x0_hat)."""
    extra_args = {} if extra_args is None else extra_args
    dtype = compute_dtype(x)
    sigmas = validate_sigmas(sigmas).to(device=x.device, dtype=dtype)
    return x.to(dtype), sigmas, lambda y, sigma: flow_velocity(model, y, sigma, extra_args)


def _combine(weights, vectors: list[torch.Tensor]) -> torch.Tensor:
    """sum_j weights[j] * vectors[j], skipping zero weights."""
    terms = [w * v for w, v in zip(weights, vectors) if w != 0]
    return sum(terms[1:], terms[0])


# ---------------------------------------------------------------------------------------------- single-step methods

def _sample_single_step(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None, callback: Callback,
                        step: Step) -> torch.Tensor:
    """The loop of every one-step method: v at each sigma, preview, then `step(velocity, x, sigma, sigma_next, v)`."""
    out_dtype = x.dtype
    x, sigmas, velocity = _prepare(model, x, sigmas, extra_args)
    for i in range(len(sigmas) - 1):
        v, denoised = velocity(x, sigmas[i])
        _report(callback, i, x, sigmas[i], sigmas[i], denoised)
        x = step(velocity, x, sigmas[i], sigmas[i + 1], v)
    return x.to(out_dtype)


def euler_step(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
               v: torch.Tensor) -> torch.Tensor:
    """x' = x + (sigma' - sigma) v; no further model call."""
    return x + (sigma_next - sigma) * v


@torch.no_grad()
def sample_flow_euler(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                      callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """Explicit Euler on dx/dsigma = v (rectified flow, arXiv 2209.03003 eq. 1): x' = x + (sigma' - sigma) v."""
    return _sample_single_step(model, x, sigmas, extra_args, callback, euler_step)


@dataclass(frozen=True)
class ButcherTableau:
    """Explicit Runge-Kutta coefficients: stage nodes c, lower-triangular rows a, weights b."""
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]


HEUN = ButcherTableau(c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5))
MIDPOINT = ButcherTableau(c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0))
KUTTA3 = ButcherTableau(c=(0.0, 0.5, 1.0), a=((), (0.5,), (-1.0, 2.0)), b=(1 / 6, 2 / 3, 1 / 6))
RK4 = ButcherTableau(c=(0.0, 0.5, 0.5, 1.0), a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
                     b=(1 / 6, 1 / 3, 1 / 3, 1 / 6))


def explicit_rk_step(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                     v: torch.Tensor, tableau: ButcherTableau) -> torch.Tensor:
    """One explicit Runge-Kutta step from sigma to sigma_next, given the first stage v = v(x, sigma)."""
    h = sigma_next - sigma
    stages = [v]
    for c, row in zip(tableau.c[1:], tableau.a[1:]):
        stage, _ = velocity(x + h * _combine(row, stages), sigma + c * h)
        stages.append(stage)
    return x + h * _combine(tableau.b, stages)


def runge_kutta_step(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                     v: torch.Tensor, tableau: ButcherTableau) -> torch.Tensor:
    """`explicit_rk_step`, except that a step into sigma 0 whose last stage would sit there is the Euler step,
    which lands on x0_hat with no model call at sigma 0."""
    if sigma_next == 0 and tableau.c[-1] == 1.0:
        return euler_step(velocity, x, sigma, sigma_next, v)
    return explicit_rk_step(velocity, x, sigma, sigma_next, v, tableau)


def _sample_runge_kutta(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None, callback: Callback,
                        tableau: ButcherTableau) -> torch.Tensor:
    return _sample_single_step(model, x, sigmas, extra_args, callback, partial(runge_kutta_step, tableau=tableau))


@torch.no_grad()
def sample_flow_heun(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                     callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """Heun's RK2 on the flow ODE (EDM, arXiv 2206.00364 Alg. 1): x' = x + h (v(x) + v(x + h v)) / 2; 2 NFE/step."""
    return _sample_runge_kutta(model, x, sigmas, extra_args, callback, HEUN)


@torch.no_grad()
def sample_flow_rk3(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """Kutta's third-order method (Hairer-Norsett-Wanner I.1, Table 1.1): c = (0, 1/2, 1), b = (1, 4, 1) / 6."""
    return _sample_runge_kutta(model, x, sigmas, extra_args, callback, KUTTA3)


@torch.no_grad()
def sample_flow_rk4(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """Classical fourth-order Runge-Kutta (Hairer-Norsett-Wanner I.1): b = (1, 2, 2, 1) / 6; 4 NFE/step."""
    return _sample_runge_kutta(model, x, sigmas, extra_args, callback, RK4)


def rf_solver_step(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                   v: torch.Tensor) -> torch.Tensor:
    """RF-Solver step (arXiv 2411.04746, 2nd-order Taylor): x' = x + h v + h^2/2 dv, dv = (v(x + h/2 v) - v) / (h/2)."""
    h = sigma_next - sigma
    v_mid, _ = velocity(x + 0.5 * h * v, sigma + 0.5 * h)
    dv_dsigma = (v_mid - v) / (0.5 * h)
    return x + h * v + 0.5 * h ** 2 * dv_dsigma


def rf_solver_step_midpoint(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                            v: torch.Tensor) -> torch.Tensor:
    """Explicit midpoint step x' = x + h v(x + h/2 v, sigma + h/2): algebraically the RF-Solver Taylor step."""
    return explicit_rk_step(velocity, x, sigma, sigma_next, v, MIDPOINT)


@torch.no_grad()
def sample_rf_solver(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                     callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """RF-Solver (arXiv 2411.04746): the second-order Taylor update of `rf_solver_step` every step; 2 NFE/step."""
    return _sample_single_step(model, x, sigmas, extra_args, callback, rf_solver_step)


@torch.no_grad()
def sample_fireflow(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """FireFlow (arXiv 2412.07517): midpoint steps x' = x + h v(x + h/2 u, sigma + h/2), u = last midpoint velocity.

    The start velocity u of each step is the previous step's midpoint velocity (the true v(x, sigma) only on the
    first step), so N steps cost N + 1 model calls. The preview x0_hat of a reused step is x - sigma * u.
    """
    out_dtype = x.dtype
    x, sigmas, velocity = _prepare(model, x, sigmas, extra_args)
    u, denoised = velocity(x, sigmas[0])
    for i in range(len(sigmas) - 1):
        sigma, h = sigmas[i], sigmas[i + 1] - sigmas[i]
        _report(callback, i, x, sigma, sigma, denoised if i == 0 else x - sigma * u)
        u, _ = velocity(x + 0.5 * h * u, sigma + 0.5 * h)
        x = x + h * u
    return x.to(out_dtype)


# ------------------------------------------------------------------------------------------------ multistep methods

def _polynomial_integral_weights(nodes: list[float], start: float, end: float) -> list[float]:
    """w_j = integral over [start, end] of the Lagrange basis polynomial of node j (variable-step Adams weights).

    Nodes are shifted to `start` for conditioning; exact up to rounding for any distinct nodes.
    """
    shifted = [n - start for n in nodes]
    length = end - start
    weights = []
    for j, node_j in enumerate(shifted):
        coeffs, denom = [1.0], 1.0  # polynomial in (t - start), ascending powers
        for m, node_m in enumerate(shifted):
            if m != j:
                coeffs = [lower - node_m * same for same, lower in zip(coeffs + [0.0], [0.0] + coeffs)]  # * (t - m)
                denom *= node_j - node_m
        weights.append(sum(c * length ** (k + 1) / (k + 1) for k, c in enumerate(coeffs)) / denom)
    return weights


def adams_increment(history: list[tuple[float, torch.Tensor]], sigma: float, sigma_next: float) -> torch.Tensor:
    """integral_sigma^sigma_next of the polynomial through history [(sigma_j, v_j)]: the Adams update of x."""
    nodes = [s for s, _ in history]
    weights = _polynomial_integral_weights(nodes, sigma, sigma_next)
    return _combine(weights, [v for _, v in history])


WARMUPS = ("euler", "heun")


def _sample_adams_bashforth(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None,
                            callback: Callback, order: int, warmup: str = "euler") -> torch.Tensor:
    if warmup not in WARMUPS:
        raise ValueError(f"Adams-Bashforth warmup must be one of {WARMUPS}, got {warmup!r}")
    out_dtype = x.dtype
    x, sigmas, velocity = _prepare(model, x, sigmas, extra_args)
    history: list[tuple[float, torch.Tensor]] = []
    for i in range(len(sigmas) - 1):
        v, denoised = velocity(x, sigmas[i])
        _report(callback, i, x, sigmas[i], sigmas[i], denoised)
        history = (history + [(float(sigmas[i]), v)])[-order:]
        if i == 0 and warmup == "heun" and sigmas[1] != 0:
            x = explicit_rk_step(velocity, x, sigmas[0], sigmas[1], v, HEUN)
        else:
            x = x + adams_increment(history, float(sigmas[i]), float(sigmas[i + 1]))
    return x.to(out_dtype)


@torch.no_grad()
def sample_flow_ab2(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """Variable-step Adams-Bashforth 2 in sigma: x' = x + h ((1 + r/2) v_i - r/2 v_{i-1}), r = h / h_prev.

    The flow analogue of DPM-Solver++(2M) (arXiv 2211.01095 Alg. 2); Euler on the first step; 1 NFE/step.
    """
    return _sample_adams_bashforth(model, x, sigmas, extra_args, callback, order=2)


@torch.no_grad()
def sample_flow_ab3(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None, warmup: str = "euler") -> torch.Tensor:
    """Variable-step Adams-Bashforth 3 in sigma (quadratic through the last three velocities, integrated exactly).

    The flow analogue of DPM-Solver++(3M), 1 NFE/step. warmup="euler" starts with Euler then AB2 like 3M; its
    first-step O(h^2) error makes the global order 2 as h -> 0 (3 in practice at moderate step counts).
    warmup="heun" takes the first step with Heun (one extra call) and is third order throughout.
    """
    return _sample_adams_bashforth(model, x, sigmas, extra_args, callback, order=3, warmup=warmup)


@torch.no_grad()
def sample_flow_pc(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                   callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """UniPC-style predictor-corrector (arXiv 2302.04867, UniC reuses the model output) with Adams polynomials.

    Variable-step Adams-Bashforth-Moulton in PEC mode: the AB2 predictor gives x_{i+1}; the model is evaluated
    there once; that evaluation corrects the step just taken with the third-order Adams-Moulton (trapezoid on the
    first step) and is reused as the next predictor's velocity, like UniC reusing the model output. 1 NFE/step, order 3.
    The last step is not corrected (that would cost an extra call, at sigma = 0 in generation).
    """
    out_dtype = x.dtype
    x, sigmas, velocity = _prepare(model, x, sigmas, extra_args)
    history: list[tuple[float, torch.Tensor]] = []
    x_start = x
    for i in range(len(sigmas) - 1):
        sigma = float(sigmas[i])
        v, denoised = velocity(x, sigmas[i])
        if history:  # corrector for the step history[-1] -> sigma, using the new evaluation
            x = x_start + adams_increment(history + [(sigma, v)], history[-1][0], sigma)
        history = (history + [(sigma, v)])[-2:]
        _report(callback, i, x, sigmas[i], sigmas[i], denoised)
        x_start = x
        x = x + adams_increment(history, sigma, float(sigmas[i + 1]))
    return x.to(out_dtype)


# --------------------------------------------------------------------------------------------------------- adaptive

def _error_norm(error: torch.Tensor, x: torch.Tensor, x_new: torch.Tensor, rtol: float, atol: float) -> float:
    """Largest per-sample RMS of error / (atol + rtol * max(|x|, |x_new|))."""
    scale = atol + rtol * torch.maximum(x.abs(), x_new.abs())
    return float((error / scale).pow(2).flatten(1).mean(1).sqrt().max())


def _initial_step(x: torch.Tensor, v: torch.Tensor, rtol: float, atol: float) -> float:
    """Hairer-Norsett-Wanner's first guess h0 = 0.01 ||x|| / ||v|| in the tolerance-scaled norm."""
    scale = atol + rtol * x.abs()
    d0 = float((x / scale).pow(2).mean().sqrt())
    d1 = float((v / scale).pow(2).mean().sqrt())
    return 0.01 * d0 / d1 if d0 > 1e-5 and d1 > 1e-5 else 1e-3


def bogacki_shampine_step(velocity: Velocity, x: torch.Tensor, sigma: float, h: float, v: torch.Tensor,
                          final_at_zero: bool) -> tuple[torch.Tensor, torch.Tensor, tuple | None]:
    """One Bogacki-Shampine 3(2) step (Bogacki & Shampine 1989, FSAL): (x_new, error estimate, (v_new, x0_hat) or None).

    The embedded 2nd-order solution needs v(x_new, sigma + h). When that point is sigma = 0 in generation the model
    is not called; the error is then measured against the explicit midpoint solution x + h k2 instead.
    """
    new = x.new_tensor
    k2, _ = velocity(x + 0.5 * h * v, new(sigma + 0.5 * h))
    k3, _ = velocity(x + 0.75 * h * k2, new(sigma + 0.75 * h))
    x_new = x + h * _combine((2 / 9, 1 / 3, 4 / 9), [v, k2, k3])
    if final_at_zero:
        return x_new, h * _combine((2 / 9, -2 / 3, 4 / 9), [v, k2, k3]), None
    k4, denoised = velocity(x_new, new(sigma + h))
    error = h * _combine((-5 / 72, 1 / 12, 1 / 9, -1 / 8), [v, k2, k3, k4])
    return x_new, error, (k4, denoised)


@torch.no_grad()
def sample_flow_adaptive(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                         callback: Callback = None, disable: bool | None = None, rtol: float = 1e-3,
                         atol: float = 1e-4, max_nfe: int = 500) -> torch.Tensor:
    """Adaptive Bogacki-Shampine 3(2) with FSAL (Bogacki & Shampine 1989; Hairer-Norsett-Wanner II.4 control).

    The sigmas are checkpoints: each interval is integrated with as many accepted steps as rtol/atol require, and
    the solution passes through every checkpoint exactly. The callback runs once per accepted step (i counts them).
    When the next attempt would exceed max_nfe model calls, SolverBudgetError is raised (never a silent big step).
    """
    if rtol <= 0 or atol <= 0 or max_nfe < 1:
        raise ValueError(f"sample_flow_adaptive: need rtol > 0, atol > 0, max_nfe >= 1; got {rtol}, {atol}, {max_nfe}")
    out_dtype = x.dtype
    x, sigmas, velocity = _prepare(model, x, sigmas, extra_args)
    generation = bool(sigmas[0] > sigmas[-1])
    v, denoised = velocity(x, sigmas[0])
    nfe, accepted = 1, 0
    h_abs = _initial_step(x, v, rtol, atol)
    checkpoints = [float(s) for s in sigmas]
    for start, end in zip(checkpoints[:-1], checkpoints[1:]):
        sigma, direction = start, math.copysign(1.0, end - start)
        while sigma != end:
            lands = abs(end - sigma) <= h_abs
            h = end - sigma if lands else direction * h_abs
            final_at_zero = generation and lands and end == 0.0
            cost = 2 if final_at_zero else 3
            if nfe + cost > max_nfe:
                raise SolverBudgetError(
                    f"sample_flow_adaptive: max_nfe={max_nfe} reached at sigma={sigma:.4g} after {accepted} accepted "
                    f"steps (rtol={rtol:g}, atol={atol:g}); raise max_nfe or loosen rtol/atol")
            x_new, error, fsal = bogacki_shampine_step(velocity, x, sigma, h, v, final_at_zero)
            nfe += cost
            err = _error_norm(error, x, x_new, rtol, atol)
            if err <= 1.0:
                _report(callback, accepted, x, x.new_tensor(sigma), x.new_tensor(sigma), denoised)
                x, sigma, accepted = x_new, (end if lands else sigma + h), accepted + 1
                if fsal is not None:
                    v, denoised = fsal
            factor = 5.0 if err == 0 else 0.9 * err ** (-1 / 3)
            h_abs = abs(h) * min(5.0 if err <= 1.0 else 1.0, max(0.2, factor))
    return x.to(out_dtype)


# ----------------------------------------------------------------------------------------------------------- SDE

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
    x, sigmas, velocity = _prepare(model, x, sigmas, extra_args)
    if sigmas[0] < sigmas[-1]:
        raise ValueError("sigmas: sample_flow_sde only generates (decreasing sigmas); for inversion (increasing "
                         "sigmas) use an ODE solver")
    if noise_sampler is None:
        noise_sampler = _seeded_noise_sampler(x, (extra_args or {}).get("seed"))
    for i in range(len(sigmas) - 1):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        v, denoised = velocity(x, sigma)
        _report(callback, i, x, sigma, sigma, denoised)
        h = sigma_next - sigma
        if sigma_next == 0:
            x = x + h * v
            continue
        g = noise_scale * DIFFUSION_SHAPES[diffusion](sigma)
        score = -(x + (1 - sigma) * v) / sigma
        drift = v - 0.5 * g ** 2 * score
        x = x + h * drift + g * (-h).sqrt() * noise_sampler(sigma, sigma_next).to(x)
    return x.to(out_dtype)


# ------------------------------------------------------------------------------------------------------- registry

@dataclass(frozen=True)
class SolverInfo:
    """A solver for a node's select combo: its function, cost, order of accuracy and a one-line description."""
    function: Callable[..., torch.Tensor]
    nfe_per_step: int | None  # None: adaptive
    order: int
    description: str
    nfe_extra: int = 0  # model calls on top of nfe_per_step * steps


SOLVERS: dict[str, SolverInfo] = {
    "euler": SolverInfo(sample_flow_euler, 1, 1, "Flow Euler, first order, 1 call per step."),
    "heun": SolverInfo(sample_flow_heun, 2, 2, "Heun RK2, 2 calls per step."),
    "rf_solver": SolverInfo(sample_rf_solver, 2, 2, "RF-Solver second-order Taylor (= midpoint), 2 calls per step."),
    "fireflow": SolverInfo(sample_fireflow, 1, 2, "FireFlow midpoint reusing the last velocity, 1 call per step + 1.",
                           nfe_extra=1),
    "rk3": SolverInfo(sample_flow_rk3, 3, 3, "Kutta RK3, 3 calls per step."),
    "rk4": SolverInfo(sample_flow_rk4, 4, 4, "Classical RK4, 4 calls per step."),
    "ab2": SolverInfo(sample_flow_ab2, 1, 2, "Adams-Bashforth 2 (flow DPM-Solver++ 2M), 1 call per step."),
    "ab3": SolverInfo(sample_flow_ab3, 1, 3, "Adams-Bashforth 3 (flow DPM-Solver++ 3M), 1 call per step; "
                                             "warmup='heun' keeps third order for one extra call."),
    "pc": SolverInfo(sample_flow_pc, 1, 3, "UniPC-style AB2 predictor + AM3 corrector, 1 call per step."),
    "adaptive": SolverInfo(sample_flow_adaptive, None, 3, "Adaptive Bogacki-Shampine 3(2), rtol/atol step control."),
    "sde": SolverInfo(sample_flow_sde, 1, 1, "Stochastic flow sampler (noise_scale 0 = Euler), generation only."),
}
