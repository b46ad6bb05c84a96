"""Sigma schedules (ComfyUI SIGMAS: a plain 1-D float tensor) and their validation."""
from __future__ import annotations

import math

import torch


class ScheduleError(ValueError):
    """A SIGMAS tensor that no solver can integrate."""


def validate_sigmas(sigmas: torch.Tensor, name: str = "sigmas") -> torch.Tensor:
    """Return `sigmas` as float (32 or 64) 1-D if it is finite, within [0, 1], of length >= 2 and strictly monotonic."""
    if not isinstance(sigmas, torch.Tensor):
        raise ScheduleError(f"{name}: expected a 1-D tensor of sigmas, got {type(sigmas).__name__}")
    if sigmas.ndim != 1 or sigmas.numel() < 2:
        raise ScheduleError(f"{name}: expected a 1-D schedule with at least 2 sigmas, got shape {tuple(sigmas.shape)}")
    s = sigmas if sigmas.dtype == torch.float64 else sigmas.float()
    if not torch.isfinite(s).all():
        raise ScheduleError(f"{name}: contains NaN or infinite values: {s.tolist()}")
    if s.min() < 0 or s.max() > 1:
        raise ScheduleError(f"{name}: flow sigmas must lie in [0, 1], got range [{s.min():.4g}, {s.max():.4g}]")
    d = s[1:] - s[:-1]
    if not ((d < 0).all() or (d > 0).all()):
        raise ScheduleError(f"{name}: must be strictly decreasing (generation) or strictly increasing "
                            f"(inversion), got {[round(v, 4) for v in s.tolist()]}")
    return s


def _check_steps(steps: int) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ScheduleError(f"steps: expected an integer >= 1, got {steps!r}")


def _unit_ramp(steps: int) -> torch.Tensor:
    """steps + 1 evenly spaced values from 1 to 0 (float64, the shared base of the schedules)."""
    _check_steps(steps)
    return torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)


def _time_shift(t: torch.Tensor, shift: float) -> torch.Tensor:
    """shift * t / (1 + (shift - 1) * t): fixes 0 and 1, pushes the middle towards noise for shift > 1."""
    return shift * t / (1 + (shift - 1) * t)


def flow_shift_sigmas(steps: int, shift: float = 3.0) -> torch.Tensor:
    """SD3 time shift (arXiv 2403.03206) on uniform s: sigma = shift s / (1 + (shift - 1) s); [steps + 1], 1 -> 0."""
    if not shift > 0 or not math.isfinite(shift):
        raise ScheduleError(f"shift: expected a finite value > 0, got {shift!r}")
    return _time_shift(_unit_ramp(steps), shift).float()


def flux_shift(image_seq_len: int, base_shift: float = 0.5, max_shift: float = 1.15, base_seq: int = 256,
               max_seq: int = 4096) -> float:
    """FLUX's resolution-dependent mu, linear in the image token count: base_shift at base_seq, max_shift at max_seq."""
    if max_seq == base_seq:
        raise ScheduleError(f"flux_shift: base_seq and max_seq must differ, both are {base_seq}")
    slope = (max_shift - base_shift) / (max_seq - base_seq)
    return base_shift + slope * (image_seq_len - base_seq)


def flux_sigmas(steps: int, mu: float) -> torch.Tensor:
    """FLUX dynamic shifting (diffusers FlowMatchEulerDiscreteScheduler): exp(mu) / (exp(mu) + (1/t - 1)); [steps+1].

    Written as exp(mu) t / (exp(mu) t + 1 - t), which is the same map without dividing by t = 0.
    """
    if not math.isfinite(mu):
        raise ScheduleError(f"mu: expected a finite value, got {mu!r}")
    return _time_shift(_unit_ramp(steps), math.exp(mu)).float()


def linear_quadratic_sigmas(steps: int, threshold_noise: float = 0.025, linear_steps: int | None = None
                            ) -> torch.Tensor:
    """Mochi's linear-quadratic schedule (genmoai/models infer.py, ComfyUI linear_quadratic): 1 -> 0, [steps+1].

    The first `linear_steps` (default steps // 2) lower sigma linearly by `threshold_noise` in all; the rest
    follow a quadratic in the step index that meets the linear part and reaches 0.
    """
    _check_steps(steps)
    if not 0 < threshold_noise < 1:
        raise ScheduleError(f"threshold_noise: expected a value in (0, 1), got {threshold_noise!r}")
    if steps == 1:
        return torch.tensor([1.0, 0.0])
    linear_steps = steps // 2 if linear_steps is None else linear_steps
    if not 0 < linear_steps < steps:
        raise ScheduleError(f"linear_steps: expected 0 < linear_steps < steps={steps}, got {linear_steps!r}")
    quadratic_steps = steps - linear_steps
    step_diff = linear_steps - threshold_noise * steps
    quadratic_coef = step_diff / (linear_steps * quadratic_steps ** 2)
    linear_coef = threshold_noise / linear_steps - 2 * step_diff / quadratic_steps ** 2
    const = quadratic_coef * linear_steps ** 2
    i = torch.arange(steps, dtype=torch.float64)
    ramp = torch.where(i < linear_steps, i * threshold_noise / linear_steps,
                       quadratic_coef * i ** 2 + linear_coef * i + const)
    return validate_sigmas(1.0 - torch.cat([ramp, ramp.new_ones(1)]), "linear_quadratic_sigmas").float()


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_continued_fraction(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, iterations: int = 300
                             ) -> torch.Tensor:
    """Lentz's evaluation of the incomplete-beta continued fraction (Numerical Recipes 6.4), elementwise."""
    tiny = 1e-300

    def guard(t: torch.Tensor) -> torch.Tensor:
        return torch.where(t.abs() < tiny, torch.full_like(t, tiny), t)

    c = torch.ones_like(x)
    d = 1.0 / guard(1.0 - (a + b) * x / (a + 1.0))
    result = d
    for m in range(1, iterations + 1):
        even = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m))
        d, c = 1.0 / guard(1.0 + even * d), guard(1.0 + even / c)
        result = result * d * c
        odd = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
        d, c = 1.0 / guard(1.0 + odd * d), guard(1.0 + odd / c)
        result = result * d * c
        if bool(((d * c - 1.0).abs() < 1e-15).all()):
            break
    return result


def regularized_incomplete_beta(x: torch.Tensor, a: float, b: float) -> torch.Tensor:
    """I_x(a, b), the Beta(a, b) CDF, in float64: continued fraction below x = (a+1)/(a+b+2), 1 - I_{1-x}(b, a) above."""
    x = x.double().clamp(0.0, 1.0)
    inner = (x > 0) & (x < 1)
    safe = torch.where(inner, x, torch.full_like(x, 0.5))
    flip = safe > (a + 1.0) / (a + b + 2.0)
    xs = torch.where(flip, 1 - safe, safe)
    a_t, b_t = xs.new_tensor(a), xs.new_tensor(b)
    aa, bb = torch.where(flip, b_t, a_t), torch.where(flip, a_t, b_t)
    front = torch.exp(aa * torch.log(xs) + bb * torch.log1p(-xs) - _log_beta(a, b))
    tail = front * _beta_continued_fraction(xs, aa, bb) / aa
    cdf = torch.where(flip, 1.0 - tail, tail)
    return torch.where(inner, cdf, x)


def beta_quantile(q: torch.Tensor, a: float, b: float, iterations: int = 60) -> torch.Tensor:
    """Inverse of I_x(a, b) by bisection on [0, 1] (60 halvings: float64 resolution), q in [0, 1]."""
    q = q.double()
    lo, hi = torch.zeros_like(q), torch.ones_like(q)
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        below = regularized_incomplete_beta(mid, a, b) < q
        lo, hi = torch.where(below, mid, lo), torch.where(below, hi, mid)
    return torch.where(q <= 0, 0.0, torch.where(q >= 1, 1.0, 0.5 * (lo + hi)))


def beta_sigmas(steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """Beta schedule (arXiv 2407.12173): sigmas at the Beta(alpha, beta) quantiles of a uniform 1 -> 0 ramp; [steps+1].

    The continuous-time form of ComfyUI's `beta` scheduler (which rounds to 1000 discrete timesteps).
    """
    if not (alpha > 0 and beta > 0):
        raise ScheduleError(f"beta_sigmas: alpha and beta must be > 0, got {alpha!r}, {beta!r}")
    return beta_quantile(_unit_ramp(steps), alpha, beta).float()
