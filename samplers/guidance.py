"""Guidance laws for rectified flows, in velocity space (pure torch, never imports comfy).

Convention (CONVENTIONS.md §1): x_sigma = (1 - sigma) x0 + sigma eps, v = eps - x0, hence
x0 = x - sigma v and eps = x + (1 - sigma) v. Tensors are [B, ...]; every norm, inner product and
std below is per sample over all non-batch dims. Laws take velocities v, not ComfyUI's sigma * v
(`sampler_cfg_function` hands x - x0_hat = sigma v: divide by sigma first).

Stateful laws (SMC-CFG memory, APG momentum, StreamDiffusion RCFG negative) take an explicit state
and return the next one; a state belongs to one sampling run (start every run from a fresh one).
Steps are recognised by a change of the step key (the sigma, or `step_sigma` where offered):
  * every call with the same key computes from the memory committed before that key was first
    seen, so repeated calls within a step (high-order solvers, correctors) are deterministic and
    independent of their order;
  * the value a step leaves behind is the one of its latest call; it is committed when a call with
    a different key arrives.
Solvers that evaluate at intermediate sigmas (midpoint methods) should key by the step's schedule
sigma (sample_sigmas[step]); otherwise every intermediate sigma counts as a step.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from numbers import Real
from typing import Any, Callable, Literal, NamedTuple

import torch
from torch import Tensor

SigmaLike = float | Tensor
ModelFn = Callable[[Tensor, float], tuple[Tensor, Tensor]]   # (x, sigma) -> (v_cond, v_uncond)
VelocityFn = Callable[[Tensor, float], Tensor]               # (x, sigma) -> v
Switching = Literal["sign", "tanh", "sat"]
SWITCHING_VARIANTS = ("sign", "tanh", "sat")
SCHEDULE_SHAPES = ("constant", "linear", "cosine")
RCFG_MODES = ("self", "onetime")
RESCALE_SPACES = ("v", "x0")


# ---------------------------------------------------------------------------------------------
# Parameter validation (nodes call these at execution time; the laws call them too)
# ---------------------------------------------------------------------------------------------

def _interval(lo: float, hi: float, lo_open: bool, hi_open: bool) -> str:
    return f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def _check_real(name: str, value: Any, lo: float = -math.inf, hi: float = math.inf, *,
                lo_open: bool = False, hi_open: bool = False, allow_inf: bool = False) -> float:
    """`value` as float if it is a real number in the interval, else ValueError naming `name`."""
    lo_open = lo_open or lo == -math.inf
    hi_open = hi_open or (hi == math.inf and not allow_inf)
    expected = _interval(lo, hi, lo_open, hi_open)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number in {expected}, got {value!r}")
    v = float(value)
    ok = not math.isnan(v) and (allow_inf or math.isfinite(v))
    ok = ok and (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
    if not ok:
        raise ValueError(f"{name} must be {'a' if allow_inf else 'a finite'} number in {expected}, got {value!r}")
    return v


def _check_int(name: str, value: Any, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    return value


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def validate_weight(w: float | Tensor, name: str = "w") -> None:
    """A guidance weight: finite and >= 0 (0 is unconditional, 1 conditional); float or per-sample tensor."""
    if isinstance(w, Tensor):
        if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
            raise ValueError(f"{name} must be finite and in [0, inf), got {w.tolist()}")
        return
    _check_real(name, w, 0.0)


def validate_sigma(sigma: SigmaLike, name: str = "sigma") -> None:
    """A flow sigma (float or tensor) in [0, 1]."""
    if isinstance(sigma, Tensor):
        if sigma.numel() == 0 or not bool(torch.isfinite(sigma).all()) or bool(((sigma < 0) | (sigma > 1)).any()):
            raise ValueError(f"{name} must lie in [0, 1], got {sigma.tolist()}")
        return
    _check_real(name, sigma, 0.0, 1.0)


def validate_step(step: int) -> None:
    _check_int("step", step)


def validate_raag(w_max: float, alpha: float, eps: float = 1e-8) -> None:
    validate_weight(w_max, "w_max")
    _check_real("alpha", alpha, 0.0)
    _check_real("eps", eps, 0.0, lo_open=True)


def validate_smc(w: float, lam: float, k: float, warmup_steps: int = 0, switching: str = "sign",
                 phi: float = 0.1) -> None:
    validate_weight(w)
    _check_real("lam", lam, 0.0)
    _check_real("k", k, 0.0)
    _check_int("warmup_steps", warmup_steps)
    _check_choice("switching", switching, SWITCHING_VARIANTS)
    if switching == "sign":
        _check_real("phi", phi, 0.0)
    else:
        _check_real("phi", phi, 0.0, lo_open=True)


def validate_cfg_zero(w: float, zero_init_steps: int, eps: float = 1e-8) -> None:
    validate_weight(w)
    _check_int("zero_init_steps", zero_init_steps)
    _check_real("eps", eps, 0.0, lo_open=True)


def validate_apg(w: float, momentum: float, norm_threshold: float, eta: float) -> None:
    validate_weight(w)
    _check_real("momentum", momentum, -1.0, 1.0, lo_open=True, hi_open=True)
    _check_real("norm_threshold", norm_threshold, 0.0, allow_inf=True)
    _check_real("eta", eta)


def validate_cfgpp(lam: float) -> None:
    _check_real("lam", lam, 0.0, 1.0)


def validate_rectified_cfgpp(w: float, predictor_fraction: float) -> None:
    validate_weight(w)
    _check_real("predictor_fraction", predictor_fraction, 0.0, 1.0, lo_open=True)


def validate_cfg_mp(iterations: int, anderson_window: int, damping: float, ridge: float, tol: float,
                    switch_sigma: float, h_operator_sigma: float) -> None:
    _check_int("iterations", iterations)
    _check_int("anderson_window", anderson_window)
    _check_real("damping", damping, 0.0, 1.0, lo_open=True)
    _check_real("ridge", ridge, 0.0)
    _check_real("tol", tol, 0.0)
    _check_real("switch_sigma", switch_sigma, 0.0, 1.0)
    _check_real("h_operator_sigma", h_operator_sigma, 0.0, 1.0)


def validate_interval(sigma_lo: float, sigma_hi: float) -> None:
    _check_real("sigma_lo", sigma_lo, 0.0, 1.0)
    _check_real("sigma_hi", sigma_hi, 0.0, 1.0)
    if sigma_lo > sigma_hi:
        raise ValueError(f"sigma_lo must be <= sigma_hi, got sigma_lo={sigma_lo!r} > sigma_hi={sigma_hi!r}")


def validate_rescale(phi: float, space: str = "v") -> None:
    _check_real("phi", phi, 0.0, 1.0)
    _check_choice("space", space, RESCALE_SPACES)


def validate_schedule(w: float, shape: str) -> None:
    validate_weight(w)
    _check_choice("shape", shape, SCHEDULE_SHAPES)


def validate_rcfg(w: float, mode: str, delta: float) -> None:
    validate_weight(w)
    _check_choice("mode", mode, RCFG_MODES)
    _check_real("delta", delta, 0.0)


def _check_pair(v_cond: Tensor, v_uncond: Tensor, a: str = "v_cond", b: str = "v_uncond") -> None:
    for name, t in ((a, v_cond), (b, v_uncond)):
        if not isinstance(t, Tensor) or t.ndim < 1:
            raise ValueError(f"{name} must be a tensor shaped [B, ...], got {type(t).__name__}")
    if v_cond.shape != v_uncond.shape:
        raise ValueError(f"{a} and {b} must have the same shape, got {tuple(v_cond.shape)} and {tuple(v_uncond.shape)}")


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------

def _flat(t: Tensor) -> Tensor:
    return t.reshape(t.shape[0], -1)


def per_sample_norm(t: Tensor) -> Tensor:
    """Per-sample L2 norm [B]."""
    return torch.linalg.vector_norm(_flat(t), dim=1)


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-sample inner product [B]."""
    return (_flat(a) * _flat(b)).sum(dim=1)


def _per_sample(values: Tensor | float, like: Tensor) -> Tensor | float:
    """[B] (or scalar) -> broadcastable against `like` [B, ...]."""
    if not isinstance(values, Tensor):
        return values
    if values.numel() == 1:
        return values.reshape(()).to(like)
    return values.reshape(values.shape[0], *([1] * (like.ndim - 1))).to(like)


def _key(sigma: SigmaLike) -> float:
    """The float that identifies a step (first element of a per-sample sigma)."""
    return float(sigma.reshape(-1)[0]) if isinstance(sigma, Tensor) else float(sigma)


def _scalar(sigma: SigmaLike, name: str) -> float:
    if isinstance(sigma, Tensor):
        if sigma.numel() == 0 or not bool((sigma == sigma.reshape(-1)[0]).all()):
            raise ValueError(f"{name} must be one value for the whole batch, got {sigma.tolist()}")
        sigma = float(sigma.reshape(-1)[0])
    _check_real(name, sigma, 0.0, 1.0)
    return float(sigma)


def cfg(v_cond: Tensor, v_uncond: Tensor, w: float | Tensor) -> Tensor:
    """Classifier-free guidance (arXiv 2207.12598 eq. 6) in velocity space: v = v_u + w (v_c - v_u); w float or [B]."""
    return v_uncond + _per_sample(w, v_cond) * (v_cond - v_uncond)


def velocity_to_x0(x: Tensor, sigma: SigmaLike, v: Tensor) -> Tensor:
    """x0 = x - sigma v (exact under x = (1 - sigma) x0 + sigma eps, v = eps - x0)."""
    return x - _per_sample(sigma, x) * v


def x0_to_velocity(x: Tensor, sigma: SigmaLike, x0: Tensor) -> Tensor:
    """v = (x - x0) / sigma; sigma must be > 0."""
    return (x - x0) / _per_sample(sigma, x)


def velocity_to_eps(x: Tensor, sigma: SigmaLike, v: Tensor) -> Tensor:
    """eps = x + (1 - sigma) v."""
    return x + (1 - _per_sample(sigma, x)) * v


def _x0_to_velocity_or(x: Tensor, s: Tensor | float, x0: Tensor, fallback: Tensor) -> Tensor:
    """(x - x0) / sigma where sigma > 0, `fallback` where sigma == 0 (x0 = x there for every v)."""
    s = torch.as_tensor(s, dtype=x.dtype, device=x.device)
    return torch.where(s > 0, (x - x0) / torch.where(s > 0, s, torch.ones_like(s)), fallback)


@dataclass(frozen=True)
class StepMemory:
    """Memory of a stepwise law for one run: `committed` from the last completed step, `latest` from the
    latest call of the step in progress, `step_key` the sigma identifying that step (see module docstring)."""
    committed: Any = None
    latest: Any = None
    step_key: float | None = None

    def enter(self, key: float) -> StepMemory:
        """The memory as seen by a call with step key `key` (commits `latest` when the key changed)."""
        if self.step_key is not None and key == self.step_key:
            return self
        committed = self.latest if self.latest is not None else self.committed
        return replace(self, committed=committed, latest=None, step_key=key)

    def record(self, value: Any) -> StepMemory:
        return replace(self, latest=value)


@dataclass(frozen=True)
class SMCState(StepMemory):
    """SMC-CFG memory: `committed` is an SMCMemory (controlled error e' and sign(s) of the last step)."""


@dataclass(frozen=True)
class APGState(StepMemory):
    """APG memory: `committed` is the momentum running average of x0_c - x0_u."""


@dataclass(frozen=True)
class RCFGState(StepMemory):
    """StreamDiffusion RCFG memory: `committed` is the stored negative x0."""


@dataclass(frozen=True)
class GuidanceState:
    """Every stateful law's memory for one sampling run; create a fresh one per run."""
    smc: SMCState = field(default_factory=SMCState)
    apg: APGState = field(default_factory=APGState)
    rcfg: RCFGState = field(default_factory=RCFGState)


# ---------------------------------------------------------------------------------------------
# 1. RAAG
# ---------------------------------------------------------------------------------------------

class RAAGResult(NamedTuple):
    v: Tensor
    ratio: Tensor    # [B] r = |v_c - v_u| / |v_u|
    weight: Tensor   # [B] w_eff


def raag(v_cond: Tensor, v_uncond: Tensor, *, w_max: float = 18.0, alpha: float = 12.0,
         eps: float = 1e-8) -> RAAGResult:
    """RAAG (arXiv 2508.03442): r = |v_c - v_u| / |v_u|, w = 1 + (w_max - 1) exp(-alpha r), v = v_u + w (v_c - v_u).

    L2 norms per sample (not squared), |v_u| clamped to >= eps. Defaults are the SD3.5 setting
    (w_max 18, alpha 12); Qwen-Image uses w_max 10, alpha 8. The ratio is scale invariant.
    """
    _check_pair(v_cond, v_uncond)
    validate_raag(w_max, alpha, eps)
    delta = v_cond - v_uncond
    ratio = per_sample_norm(delta) / per_sample_norm(v_uncond).clamp_min(eps)
    weight = 1 + (w_max - 1) * torch.exp(-alpha * ratio)
    return RAAGResult(v_uncond + _per_sample(weight, delta) * delta, ratio, weight)


# ---------------------------------------------------------------------------------------------
# 2. SMC-CFG (CFG-Ctrl)
# ---------------------------------------------------------------------------------------------

class SMCMemory(NamedTuple):
    error: Tensor          # e' of the step (the controlled guidance error)
    surface_sign: Tensor   # sign(s) of the step, int8, for switching activity


class SMCResult(NamedTuple):
    v: Tensor
    state: SMCState
    surface: Tensor | None         # s of this call (None during warm-up)
    previous_sign: Tensor | None   # sign(s) of the previous step (None on the first active step)


def smc_switch(surface: Tensor, switching: Switching = "sign", phi: float = 0.1) -> Tensor:
    """Switching function: sign(s), tanh(s / phi) or sat(s / phi) = clamp(s / phi, -1, 1) (boundary layer phi)."""
    if switching == "sign":
        return torch.sign(surface)
    if switching == "tanh":
        return torch.tanh(surface / phi)
    return (surface / phi).clamp(-1.0, 1.0)


def smc_cfg(v_cond: Tensor, v_uncond: Tensor, sigma: SigmaLike, step: int, state: SMCState, *, w: float,
            lam: float = 5.0, k: float = 0.2, warmup_steps: int = 0, switching: Switching = "sign",
            phi: float = 0.1) -> SMCResult:
    """SMC-CFG (CFG-Ctrl, arXiv 2603.03281, official discrete law): e = v_c - v_u; s = (e - e'_prev) + lam e'_prev;
    e' = e - k sw(s); v = v_u + w e'; e'_prev := e' (e'_prev = e on the first active step).

    Steps `step` < warmup_steps return v_c and leave the state alone. `sigma` is only the step key
    (pass the step's schedule sigma). k is an absolute gain: v must be a velocity, not sigma * v.
    Recommended w: SD3.5 7.5, Flux 2-3, Qwen-Image 4, Wan 5 (lam 5, k 0.2 for all);
    switching "tanh"/"sat" and phi are our smooth variants (the paper uses sign).
    """
    _check_pair(v_cond, v_uncond)
    validate_smc(w, lam, k, warmup_steps, switching, phi)
    validate_step(step)
    if step < warmup_steps:
        return SMCResult(v_cond, state, None, None)
    state = state.enter(_key(sigma))
    error = v_cond - v_uncond
    memory = state.committed
    prev = error if memory is None else memory.error
    surface = (error - prev) + lam * prev
    controlled = error - k * smc_switch(surface, switching, phi)
    state = state.record(SMCMemory(controlled, torch.sign(surface).to(torch.int8)))
    v = v_uncond + _per_sample(w, controlled) * controlled
    return SMCResult(v, state, surface, None if memory is None else memory.surface_sign)


class SwitchingActivity(NamedTuple):
    boundary_fraction: Tensor       # [B] fraction of elements with |s| < phi
    flip_fraction: Tensor | None    # [B] fraction whose sign(s) differs from the previous step


def smc_switching_activity(surface: Tensor, phi: float = 0.0, previous_sign: Tensor | None = None) -> SwitchingActivity:
    """Chattering diagnostics of SMC-CFG for an inspector (from SMCResult.surface / .previous_sign)."""
    _check_real("phi", phi, 0.0)
    flat = _flat(surface)
    inside = (flat.abs() < phi).to(flat.dtype).mean(dim=1)
    flips = None
    if previous_sign is not None:
        flips = (torch.sign(flat).to(torch.int8) != _flat(previous_sign)).to(flat.dtype).mean(dim=1)
    return SwitchingActivity(inside, flips)


# ---------------------------------------------------------------------------------------------
# 3. CFG-Zero*
# ---------------------------------------------------------------------------------------------

class CFGZeroResult(NamedTuple):
    v: Tensor
    scale: Tensor   # [B] s*


def cfg_zero_star(v_cond: Tensor, v_uncond: Tensor, step: int, *, w: float, zero_init_steps: int = 1,
                  optimized_scale: bool = True, eps: float = 1e-8) -> CFGZeroResult:
    """CFG-Zero* (arXiv 2503.18886): s* = <v_c, v_u> / |v_u|^2, v = s* v_u + w (v_c - s* v_u);
    v = 0 for step < zero_init_steps.

    zero_init_steps counts zeroed steps (official code's `zero_init_steps=0` zeroes one step = ours 1).
    |v_u|^2 is clamped to >= eps. optimized_scale=False forces s* = 1 (plain CFG).
    """
    _check_pair(v_cond, v_uncond)
    validate_cfg_zero(w, zero_init_steps, eps)
    validate_step(step)
    if optimized_scale:
        scale = _dot(v_cond, v_uncond) / _dot(v_uncond, v_uncond).clamp_min(eps)
    else:
        scale = v_cond.new_ones(v_cond.shape[0])
    if step < zero_init_steps:
        return CFGZeroResult(torch.zeros_like(v_cond), scale)
    scaled_uncond = _per_sample(scale, v_uncond) * v_uncond
    return CFGZeroResult(scaled_uncond + _per_sample(w, v_cond) * (v_cond - scaled_uncond), scale)


# ---------------------------------------------------------------------------------------------
# 4. APG
# ---------------------------------------------------------------------------------------------

def _project(a: Tensor, onto: Tensor) -> tuple[Tensor, Tensor]:
    """(parallel, orthogonal) parts of `a` relative to `onto`, per sample (parallel = 0 where onto = 0)."""
    coef = _dot(a, onto) / _dot(onto, onto).clamp_min(torch.finfo(onto.dtype).tiny)
    parallel = _per_sample(coef, onto) * onto
    return parallel, a - parallel


def apg(v_cond: Tensor, v_uncond: Tensor, x: Tensor, sigma: SigmaLike, state: APGState, *, w: float,
        momentum: float = -0.5, norm_threshold: float = 0.0, eta: float = 0.0,
        step_sigma: float | None = None) -> tuple[Tensor, APGState]:
    """APG (arXiv 2410.02416, Alg. 1) on the x0 prediction, velocity in/out via x0 = x - sigma v:
    D = (x0_c - x0_u) + momentum D_prev; D' = D min(1, r / |D|); x0 = x0_c + (w - 1)(D'_orth + eta D'_par),
    with parallel/orthogonal taken relative to x0_c; v = (x - x0) / sigma.

    norm_threshold r = 0 or inf disables the rescale (the paper tunes r per model and resolution, so
    there is no single default). At sigma = 0 all x0 equal x and v_c is returned. The momentum
    average is step memory keyed by `step_sigma` (default: sigma).
    """
    _check_pair(v_cond, v_uncond)
    _check_pair(v_cond, x, "v_cond", "x")
    validate_apg(w, momentum, norm_threshold, eta)
    validate_sigma(sigma)
    state = state.enter(_key(sigma if step_sigma is None else step_sigma))
    s = _per_sample(torch.as_tensor(sigma, dtype=x.dtype, device=x.device), x)
    x0_cond, x0_uncond = x - s * v_cond, x - s * v_uncond
    running = x0_cond - x0_uncond
    if state.committed is not None:
        running = running + momentum * state.committed
    diff = running
    if 0 < norm_threshold < math.inf:
        diff_norm = per_sample_norm(diff).clamp_min(torch.finfo(diff.dtype).tiny)
        diff = diff * _per_sample((norm_threshold / diff_norm).clamp(max=1.0), diff)
    parallel, orthogonal = _project(diff, x0_cond)
    x0 = x0_cond + _per_sample(w - 1, x0_cond) * (orthogonal + eta * parallel)
    return _x0_to_velocity_or(x, s, x0, v_cond), state.record(running)


# ---------------------------------------------------------------------------------------------
# 5. CFG++ and Rectified-CFG++
# ---------------------------------------------------------------------------------------------

def cfgpp_x0_eps(x: Tensor, sigma: SigmaLike, v_cond: Tensor, v_uncond: Tensor, *, lam: float) -> tuple[Tensor, Tensor]:
    """CFG++ (arXiv 2406.08070, Alg. 1) for flows: x0_lam = x0_u + lam (x0_c - x0_u)
    = x - sigma (v_u + lam (v_c - v_u)) and eps_u = x + (1 - sigma) v_u: the renoising direction is the
    unconditional eps. lam in [0, 1] (the paper's range)."""
    _check_pair(v_cond, v_uncond)
    validate_cfgpp(lam)
    validate_sigma(sigma)
    return velocity_to_x0(x, sigma, cfg(v_cond, v_uncond, lam)), velocity_to_eps(x, sigma, v_uncond)


def cfgpp_euler_step(x: Tensor, sigma: SigmaLike, sigma_next: SigmaLike, v_cond: Tensor, v_uncond: Tensor, *,
                     lam: float) -> Tensor:
    """CFG++ flow Euler (DDIM) step (arXiv 2406.08070 eq. 11 in flow form): x' = (1 - sigma') x0_lam + sigma' eps_u."""
    validate_sigma(sigma_next, "sigma_next")
    x0, eps = cfgpp_x0_eps(x, sigma, v_cond, v_uncond, lam=lam)
    s_next = _per_sample(sigma_next, x)
    return (1 - s_next) * x0 + s_next * eps


def cfgpp_velocity(sigma: float, sigma_next: float, v_cond: Tensor, v_uncond: Tensor, *, lam: float) -> Tensor:
    """The velocity whose plain Euler step equals the CFG++ step (arXiv 2406.08070):
    v = v_u + lam sigma (1 - sigma') / (sigma - sigma') (v_c - v_u), i.e. CFG with an effective weight."""
    validate_cfgpp(lam)
    sigma, sigma_next = _scalar(sigma, "sigma"), _scalar(sigma_next, "sigma_next")
    if sigma == sigma_next:
        raise ValueError(f"sigma_next must differ from sigma, got both {sigma!r}")
    return cfg(v_cond, v_uncond, lam * sigma * (1 - sigma_next) / (sigma - sigma_next))


def rectified_cfgpp_step(model_fn: ModelFn, x: Tensor, sigma: float, sigma_next: float, *, w: float,
                         predictor_fraction: float = 0.5, cond_fn: VelocityFn | None = None) -> Tensor:
    """Rectified-CFG++ (arXiv 2510.07631) predictor-corrector step; model_fn(x, sigma) -> (v_c, v_u):
    predictor x_p = x + f (sigma' - sigma) v_c(x, sigma) at sigma_p = sigma + f (sigma' - sigma);
    corrector v = v_c(x, sigma) + w (v_c(x_p, sigma_p) - v_u(x_p, sigma_p)); x' = x + (sigma' - sigma) v.

    f = 0.5 is the paper's half step; the official SD3 code steps the full dt (f = 1) but evaluates
    the corrector at the start time. The paper's time schedule of w is not reproduced: pass w per step.
    Costs two (cond, uncond) model calls, or one cond call plus one pair when `cond_fn` (x, sigma) -> v_c is given.
    """
    validate_rectified_cfgpp(w, predictor_fraction)
    sigma, sigma_next = _scalar(sigma, "sigma"), _scalar(sigma_next, "sigma_next")
    v_cond = cond_fn(x, sigma) if cond_fn is not None else model_fn(x, sigma)[0]
    sigma_p = sigma + predictor_fraction * (sigma_next - sigma)
    x_p = x + (sigma_p - sigma) * v_cond
    v_cond_p, v_uncond_p = model_fn(x_p, sigma_p)
    return x + (sigma_next - sigma) * (v_cond + w * (v_cond_p - v_uncond_p))


# ---------------------------------------------------------------------------------------------
# 6. CFG-MP / CFG-MP+ (manifold projection, Anderson acceleration)
# ---------------------------------------------------------------------------------------------

def anderson_mix(xs: list[Tensor], residuals: list[Tensor], *, damping: float = 1.0, ridge: float = 1e-4) -> Tensor:
    """Anderson acceleration AA(m) step (type II, as in the CFG-MP code, arXiv 2601.21892): with residuals
    f_i = g(x_i) - x_i, alpha = argmin |sum alpha_i f_i|^2 + ridge^2 |gamma|^2 s.t. sum alpha_i = 1,
    x' = (1 - damping) sum alpha_i x_i + damping sum alpha_i g(x_i). One entry: x' = x + damping f."""
    if len(xs) != len(residuals) or not xs:
        raise ValueError(f"xs and residuals must be non-empty lists of equal length, "
                         f"got {len(xs)} and {len(residuals)}")
    x_last, f_last = xs[-1], residuals[-1]
    if len(xs) == 1:
        return x_last + damping * f_last
    dtype = torch.float64 if x_last.dtype == torch.float64 else torch.float32
    batch, m = x_last.shape[0], len(xs) - 1
    x_hist = torch.stack([_flat(t).to(dtype) for t in xs], dim=1)          # [B, m+1, D]
    f_hist = torch.stack([_flat(t).to(dtype) for t in residuals], dim=1)
    y = (f_hist[:, -1:] - f_hist[:, :-1]).transpose(1, 2)                 # [B, D, m]
    target = f_hist[:, -1:].transpose(1, 2)                                 # [B, D, 1]
    if ridge > 0:
        eye = ridge * torch.eye(m, dtype=dtype, device=y.device).expand(batch, m, m)
        y = torch.cat([y, eye], dim=1)
        target = torch.cat([target, target.new_zeros(batch, m, 1)], dim=1)
    gamma = torch.linalg.lstsq(y, target).solution.squeeze(-1)               # [B, m]
    alphas = torch.cat([gamma, 1 - gamma.sum(dim=1, keepdim=True)], dim=1)   # [B, m+1]
    x_avg = torch.einsum("bk,bkd->bd", alphas, x_hist)
    g_avg = torch.einsum("bk,bkd->bd", alphas, x_hist + f_hist)
    return ((1 - damping) * x_avg + damping * g_avg).to(x_last.dtype).view_as(x_last)


def cfg_mp_operator(cond_fn: VelocityFn, uncond_fn: VelocityFn, z: Tensor, sigma: float, half_step: float,
                    kind: Literal["G", "H"] = "G") -> Tensor:
    """CFG-MP projection operator (arXiv 2601.21892, official code), h = half_step = (sigma' - sigma) / 2,
    both velocities at sigma: G(z) = z_t + h v_c(z_t), z_t = z - h v_u(z);  H(z) = z_t - h v_u(z_t), z_t = z + h v_c(z).
    Fixed points have a small prediction gap v_c(z_t) = v_u(z)."""
    if kind == "G":
        z_t = z - half_step * uncond_fn(z, sigma)
        return z_t + half_step * cond_fn(z_t, sigma)
    z_t = z + half_step * cond_fn(z, sigma)
    return z_t - half_step * uncond_fn(z_t, sigma)


class MPProjection(NamedTuple):
    z: Tensor
    iterations: int      # fixed-point iterations run (2 model calls each)
    residual: float      # mean |g(z) - z| of the last iteration (nan when none ran)


def cfg_mp_project(cond_fn: VelocityFn, uncond_fn: VelocityFn, x: Tensor, sigma: float, sigma_next: float, *,
                   iterations: int = 3, anderson_window: int = 1, damping: float = 1.0, ridge: float = 1e-4,
                   tol: float = 1e-6, h_operator_sigma: float = 0.95) -> MPProjection:
    """CFG-MP manifold projection (arXiv 2601.21892): fixed-point iteration z <- G(z) from z = x, Picard when
    anderson_window = 0 (CFG-MP), Anderson AA(window) with `damping` otherwise (CFG-MP+); the H operator is
    used for sigma >= h_operator_sigma. Stops early when mean |g(z) - z| < tol."""
    validate_cfg_mp(iterations, anderson_window, damping, ridge, tol, 0.0, h_operator_sigma)
    sigma, sigma_next = _scalar(sigma, "sigma"), _scalar(sigma_next, "sigma_next")
    half_step = (sigma_next - sigma) / 2
    kind = "H" if sigma >= h_operator_sigma else "G"
    z, xs, fs, residual, done = x, [], [], math.nan, 0
    for done in range(1, iterations + 1):
        f = cfg_mp_operator(cond_fn, uncond_fn, z, sigma, half_step, kind) - z
        residual = float(f.abs().mean())
        if anderson_window == 0:
            z = z + f
        else:
            xs, fs = (xs + [z])[-(anderson_window + 1):], (fs + [f])[-(anderson_window + 1):]
            z = anderson_mix(xs, fs, damping=damping, ridge=ridge)
        if residual < tol:
            break
    return MPProjection(z, done, residual)


def cfg_mp_step(cond_fn: VelocityFn, uncond_fn: VelocityFn, x: Tensor, sigma: float, sigma_next: float, *,
                w: float, switch_sigma: float = 0.5, iterations: int = 3, anderson_window: int = 1,
                damping: float = 1.0, ridge: float = 1e-4, tol: float = 1e-6, h_operator_sigma: float = 0.95) -> Tensor:
    """CFG-MP / MP+ step (arXiv 2601.21892): project x to z* (only while sigma > switch_sigma), then the CFG Euler
    step x' = z* + (sigma' - sigma) (v_u + w (v_c - v_u)) at z*. Defaults follow the official SD3.5 code."""
    validate_weight(w)
    validate_cfg_mp(iterations, anderson_window, damping, ridge, tol, switch_sigma, h_operator_sigma)
    sigma, sigma_next = _scalar(sigma, "sigma"), _scalar(sigma_next, "sigma_next")
    z = x
    if sigma > switch_sigma:
        z = cfg_mp_project(cond_fn, uncond_fn, x, sigma, sigma_next, iterations=iterations,
                           anderson_window=anderson_window, damping=damping, ridge=ridge, tol=tol,
                           h_operator_sigma=h_operator_sigma).z
    return z + (sigma_next - sigma) * cfg(cond_fn(z, sigma), uncond_fn(z, sigma), w)


# ---------------------------------------------------------------------------------------------
# 7. Limited-interval guidance, 9. weight schedules
# ---------------------------------------------------------------------------------------------

def edm_sigma_to_flow(sigma_edm: float) -> float:
    """EDM noise level -> flow sigma: x / (1 - sigma) = x0 + sigma_edm eps, so sigma = sigma_edm / (1 + sigma_edm)."""
    _check_real("sigma_edm", sigma_edm, 0.0, allow_inf=True)
    return 1.0 if sigma_edm == math.inf else sigma_edm / (1 + sigma_edm)


def interval_weight(w: float, sigma: SigmaLike, sigma_lo: float, sigma_hi: float) -> float | Tensor:
    """Limited-interval guidance (arXiv 2404.07724 eq. 2): w for sigma_lo <= sigma <= sigma_hi, else 1 (conditional).
    The paper's interval is (lo, hi] in EDM sigmas; convert its bounds with edm_sigma_to_flow."""
    validate_weight(w)
    validate_interval(sigma_lo, sigma_hi)
    validate_sigma(sigma)
    if isinstance(sigma, Tensor):
        inside = (sigma >= sigma_lo) & (sigma <= sigma_hi)
        return torch.where(inside, torch.full_like(sigma, w), torch.ones_like(sigma))
    return w if sigma_lo <= sigma <= sigma_hi else 1.0


def limited_interval_cfg(v_cond: Tensor, v_uncond: Tensor, sigma: SigmaLike, *, w: float, sigma_lo: float,
                         sigma_hi: float) -> Tensor:
    """CFG with the limited-interval weight (arXiv 2404.07724); per-sample sigma allowed."""
    _check_pair(v_cond, v_uncond)
    return cfg(v_cond, v_uncond, interval_weight(w, sigma, sigma_lo, sigma_hi))


def scheduled_weight(w: float, sigma: SigmaLike,
                     shape: Literal["constant", "linear", "cosine"] = "linear") -> float | Tensor:
    """Increasing guidance schedules (arXiv 2404.13040, heuristic linear / cosine) with t/T -> sigma:
    linear w(sigma) = 1 + (w - 1) 2 (1 - sigma), cosine w(sigma) = 1 + (w - 1)(1 + cos(pi sigma)).

    Guidance rises as noise falls (pure conditional at sigma = 1, 1 + 2(w - 1) at sigma = 0) and the mean
    over sigma in [0, 1] is w. The schedule scales the excess w - 1 over the conditional prediction.
    A normalised step position (1 - i / N) may be passed instead of sigma.
    """
    validate_schedule(w, shape)
    validate_sigma(sigma)
    if shape == "constant":
        return torch.full_like(sigma, w) if isinstance(sigma, Tensor) else w
    if shape == "linear":
        factor = 2 * (1 - sigma)
    else:
        factor = 1 + (torch.cos(math.pi * sigma) if isinstance(sigma, Tensor) else math.cos(math.pi * sigma))
    return 1 + (w - 1) * factor


# ---------------------------------------------------------------------------------------------
# 8. Guidance rescale
# ---------------------------------------------------------------------------------------------

def per_sample_std(t: Tensor) -> Tensor:
    """Per-sample population std [B]."""
    return _flat(t).std(dim=1, correction=0)


def _std_rescale(ref: Tensor, guided: Tensor, phi: float) -> Tensor:
    ratio = per_sample_std(ref) / per_sample_std(guided)
    ratio = torch.where(torch.isfinite(ratio), ratio, torch.ones_like(ratio))
    return phi * guided * _per_sample(ratio, guided) + (1 - phi) * guided


def std_rescale(guided: Tensor, reference: Tensor, phi: float) -> Tensor:
    """Guidance rescale's blend (arXiv 2305.08891 eq. 15-16) of any guided prediction towards the std of `reference`:
    phi guided std(ref) / std(guided) + (1 - phi) guided, per sample."""
    _check_pair(guided, reference, "guided", "reference")
    validate_rescale(phi)
    return _std_rescale(reference, guided, phi)


def rescale_cfg(v_cond: Tensor, v_uncond: Tensor, *, w: float, phi: float = 0.7, space: Literal["v", "x0"] = "v",
                x: Tensor | None = None, sigma: SigmaLike | None = None) -> Tensor:
    """Guidance rescale (arXiv 2305.08891 eq. 15-16): g = cfg; g_r = g std(c) / std(g); out = phi g_r + (1 - phi) g.

    space "v" (default) rescales the flow velocity itself, the flow model's raw output, as the paper
    rescales its v-prediction output. space "x0" rescales x0 = x - sigma v (needs x, sigma; v_cfg is
    returned where sigma = 0). ComfyUI's RescaleCFG instead converts to the VP/EDM v-prediction
    (x / (sigma^2 + 1) - x0) sqrt(sigma^2 + 1) / sigma, which for flow models is neither of these.
    Population std per sample over all non-batch dims (the ratio does not depend on the correction).
    """
    _check_pair(v_cond, v_uncond)
    validate_weight(w)
    validate_rescale(phi, space)
    guided = cfg(v_cond, v_uncond, w)
    if space == "v":
        return _std_rescale(v_cond, guided, phi)
    if x is None or sigma is None:
        raise ValueError("space='x0' needs x and sigma")
    _check_pair(v_cond, x, "v_cond", "x")
    validate_sigma(sigma)
    s = _per_sample(torch.as_tensor(sigma, dtype=x.dtype, device=x.device), x)
    x0 = _std_rescale(x - s * v_cond, x - s * guided, phi)
    return _x0_to_velocity_or(x, s, x0, guided)


# ---------------------------------------------------------------------------------------------
# 10. StreamDiffusion residual CFG
# ---------------------------------------------------------------------------------------------

def _scaled_negative(v_neg: Tensor, x: Tensor, s: Tensor, delta: float) -> Tensor:
    """Velocity of the negative noise delta * eps_neg (eps = x + (1 - sigma) v): delta v + (delta - 1) x / (1 - sigma).
    Where sigma = 1 (eps = x, the scaling has no velocity form) v_neg is kept."""
    if delta == 1.0:
        return v_neg
    one_minus = 1 - s
    safe = torch.where(one_minus > 0, one_minus, torch.ones_like(one_minus))
    return torch.where(one_minus > 0, delta * v_neg + (delta - 1) * x / safe, v_neg)


def rcfg(v_cond: Tensor, x: Tensor, sigma: SigmaLike, state: RCFGState, *, w: float,
         mode: Literal["self", "onetime"] = "self", delta: float = 1.0, v_uncond: Tensor | None = None,
         step_sigma: float | None = None) -> tuple[Tensor, RCFGState]:
    """StreamDiffusion residual CFG (arXiv 2312.12491 eq. 7-10) in velocity space, 1 NFE per step.

    The paper's virtual negative noise eps_n = (x_t - sqrt(a_t) x0_n) / sqrt(b_t) becomes, for flows,
    eps_n = (x - (1 - sigma) x0_n) / sigma, i.e. the negative velocity v_n = (x - x0_n) / sigma; the guided
    eps = delta eps_n + w (eps_c - delta eps_n) is exactly v = v_n' + w (v_c - v_n') with v_n' the velocity
    of delta eps_n. mode "self": x0_n is the previous step's guided output x0 = x - sigma v;
    "onetime": x0_n = x - sigma v_uncond from the first step, reused for the whole run.
    First step (no stored negative): real CFG when v_uncond is given (required for "onetime"), else v_c.
    At sigma = 0 the virtual negative is undefined and v_c is used for it.
    """
    _check_pair(v_cond, x, "v_cond", "x")
    validate_rcfg(w, mode, delta)
    validate_sigma(sigma)
    state = state.enter(_key(sigma if step_sigma is None else step_sigma))
    s = _per_sample(torch.as_tensor(sigma, dtype=x.dtype, device=x.device), x)
    negative_x0 = state.committed
    if negative_x0 is None:
        if v_uncond is None:
            if mode == "onetime":
                raise ValueError("v_uncond is required on the first step of onetime-negative RCFG")
            v = v_cond
        else:
            _check_pair(v_cond, v_uncond)
            v = cfg(v_cond, _scaled_negative(v_uncond, x, s, delta), w)
        stored = x - s * (v_uncond if mode == "onetime" else v)
        return v, state.record(stored)
    v_neg = _x0_to_velocity_or(x, s, negative_x0, v_cond)
    v = cfg(v_cond, _scaled_negative(v_neg, x, s, delta), w)
    return v, (state.record(x - s * v) if mode == "self" else state)
