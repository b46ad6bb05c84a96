"""Sigma schedules: shape, endpoints, monotonicity, and agreement with their reference formulas."""
import math

import numpy as np
import pytest
import scipy.stats
import torch

from rectiflow.samplers.schedules import (
    ScheduleError, beta_sigmas, flow_shift_sigmas, flux_shift, flux_sigmas, linear_quadratic_sigmas,
    regularized_incomplete_beta, validate_sigmas,
)

SCHEDULES = {
    "flow_shift": lambda n: flow_shift_sigmas(n, 3.0),
    "flux": lambda n: flux_sigmas(n, flux_shift(4096)),
    "linear_quadratic": lambda n: linear_quadratic_sigmas(n),
    "beta": lambda n: beta_sigmas(n),
    "beta_skewed": lambda n: beta_sigmas(n, 0.5, 2.0),
}


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("steps", [1, 2, 7, 30])
def test_schedules_run_from_one_to_zero(name, steps):
    sigmas = SCHEDULES[name](steps)
    assert sigmas.dtype == torch.float32 and sigmas.shape == (steps + 1,)
    assert sigmas[0].item() == 1.0 and sigmas[-1].item() == 0.0
    assert (sigmas[1:] < sigmas[:-1]).all(), sigmas
    validate_sigmas(sigmas)


def test_shift_one_is_the_linear_schedule():
    torch.testing.assert_close(flow_shift_sigmas(10, 1.0), torch.linspace(1, 0, 11), rtol=0, atol=1e-7)


def test_shift_moves_sigmas_towards_noise():
    linear, shifted = flow_shift_sigmas(8, 1.0), flow_shift_sigmas(8, 3.0)
    assert (shifted[1:-1] > linear[1:-1]).all()
    assert shifted[4].item() == pytest.approx(3 * 0.5 / (1 + 2 * 0.5))


def test_flux_shift_follows_the_diffusers_formula():
    def diffusers_mu(seq_len, base_seq=256, max_seq=4096, base_shift=0.5, max_shift=1.15):
        m = (max_shift - base_shift) / (max_seq - base_seq)
        return seq_len * m + (base_shift - m * base_seq)

    for seq_len in (256, 1024, 4096, 6144):
        assert flux_shift(seq_len) == pytest.approx(diffusers_mu(seq_len), abs=1e-12)
    assert flux_shift(256) == pytest.approx(0.5) and flux_shift(4096) == pytest.approx(1.15)
    assert flux_shift(1000, base_shift=0.3, max_shift=0.9, base_seq=100, max_seq=2000) == pytest.approx(
        diffusers_mu(1000, 100, 2000, 0.3, 0.9))


def test_flux_sigmas_follow_the_diffusers_time_shift():
    steps, mu = 12, flux_shift(64 * 64)
    t = np.linspace(1.0, 1.0 / steps, steps)  # diffusers: linspace(1, 1/N, N), then shift, then append 0
    expected = np.append(math.exp(mu) / (math.exp(mu) + (1 / t - 1) ** 1.0), 0.0)
    np.testing.assert_allclose(flux_sigmas(steps, mu).numpy(), expected, rtol=0, atol=1e-6)


def test_linear_quadratic_matches_mochi():
    """genmoai/models linear_quadratic_schedule: linear to threshold over half the steps, then quadratic."""
    steps, threshold = 10, 0.025
    linear_steps = steps // 2
    diff = linear_steps - threshold * steps
    quadratic_steps = steps - linear_steps
    qc = diff / (linear_steps * quadratic_steps ** 2)
    lc = threshold / linear_steps - 2 * diff / quadratic_steps ** 2
    ramp = [i * threshold / linear_steps for i in range(linear_steps)]
    ramp += [qc * i ** 2 + lc * i + qc * linear_steps ** 2 for i in range(linear_steps, steps)]
    expected = [1.0 - r for r in ramp + [1.0]]
    np.testing.assert_allclose(linear_quadratic_sigmas(steps, threshold).numpy(), expected, rtol=0, atol=1e-6)
    assert linear_quadratic_sigmas(steps)[linear_steps].item() == pytest.approx(1 - threshold)


@pytest.mark.parametrize("alpha, beta", [(0.6, 0.6), (0.5, 2.0), (3.0, 0.7), (1.0, 1.0)])
def test_beta_sigmas_are_scipy_quantiles(alpha, beta):
    steps = 20
    expected = scipy.stats.beta.ppf(np.linspace(1.0, 0.0, steps + 1), alpha, beta)
    np.testing.assert_allclose(beta_sigmas(steps, alpha, beta).numpy(), expected, rtol=0, atol=1e-6)


def test_incomplete_beta_is_the_scipy_cdf():
    x = torch.linspace(0, 1, 201, dtype=torch.float64)
    for alpha, beta in [(0.6, 0.6), (0.3, 4.0), (5.0, 0.4)]:
        np.testing.assert_allclose(regularized_incomplete_beta(x, alpha, beta).numpy(),
                                   scipy.stats.beta.cdf(x.numpy(), alpha, beta), rtol=0, atol=1e-12)


@pytest.mark.parametrize("make, message", [
    (lambda: flow_shift_sigmas(0, 3.0), "steps"),
    (lambda: flow_shift_sigmas(4, -1.0), "shift"),
    (lambda: flux_sigmas(4, float("nan")), "mu"),
    (lambda: linear_quadratic_sigmas(8, linear_steps=8), "linear_steps"),
    (lambda: linear_quadratic_sigmas(8, threshold_noise=1.5), "threshold_noise"),
    (lambda: beta_sigmas(8, 0.0, 0.6), "alpha"),
    (lambda: beta_sigmas(2.5), "steps"),
])
def test_bad_schedule_parameters_are_named(make, message):
    with pytest.raises(ScheduleError, match=message):
        make()
