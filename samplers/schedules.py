"""Sigma schedules (ComfyUI SIGMAS: a plain 1-D float tensor) and their validation."""
from __future__ import annotations

import math

import scipy.stats
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


def beta_sigmas(steps: int, alpha: float = 0.6, beta: float = 0.6) -> torch.Tensor:
    """Beta schedule (arXiv 2407.12173): sigmas at the Beta(alpha, beta) quantiles of a uniform 1 -> 0 ramp; [steps+1].

    The continuous-time form of ComfyUI's `beta` scheduler (which rounds to 1000 discrete timesteps); the quantiles are
    scipy's inverse regularized incomplete beta.
    """
    if not (alpha > 0 and beta > 0 and math.isfinite(alpha) and math.isfinite(beta)):
        raise ScheduleError(f"beta_sigmas: alpha and beta must be finite and > 0, got {alpha!r}, {beta!r}")
    quantiles = scipy.stats.beta.ppf(_unit_ramp(steps).numpy(), alpha, beta)
    return torch.from_numpy(quantiles).float()
