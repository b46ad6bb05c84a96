"""Sigma schedules: shape, endpoints, monotonicity, and agreement with their reference formulas."""
import math
import time

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch

from rectiflow.samplers.schedules import (
    ScheduleError, beta_sigmas, flow_shift_sigmas, flux_shift, flux_sigmas, linear_quadratic_sigmas,
    validate_sigmas,
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


# Computed by the hand-written continued-fraction incomplete beta and bisection that scipy replaced.
HAND_WRITTEN_BETA_SIGMAS = {
    (8, 0.6, 0.6): [1.0, 0.9428436, 0.8243196, 0.6706185, 0.5, 0.3293815, 0.1756804, 0.0571564, 0.0],
    (5, 0.5, 2.0): [1.0, 0.3701503, 0.1812363, 0.0747941, 0.017993, 0.0],
    (6, 3.0, 0.7): [1.0, 0.9757121, 0.9310641, 0.867187, 0.7763646, 0.6333241, 0.0],
}


@pytest.mark.parametrize("steps, alpha, beta", list(HAND_WRITTEN_BETA_SIGMAS))
def test_beta_sigmas_keep_the_hand_written_values(steps, alpha, beta):
    np.testing.assert_allclose(beta_sigmas(steps, alpha, beta).numpy(), HAND_WRITTEN_BETA_SIGMAS[steps, alpha, beta],
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("alpha, beta", [(0.6, 0.6), (0.3, 4.0), (5.0, 0.4)])
def test_beta_sigmas_invert_the_incomplete_beta(alpha, beta):
    """The forward CDF I_sigma(alpha, beta) at each sigma gives back the uniform ramp it was drawn from."""
    steps = 40
    sigmas = beta_sigmas(steps, alpha, beta).double().numpy()
    np.testing.assert_allclose(scipy.special.betainc(alpha, beta, sigmas), np.linspace(1.0, 0.0, steps + 1),
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(sigmas, scipy.special.betaincinv(alpha, beta, np.linspace(1.0, 0.0, steps + 1)),
                               rtol=0, atol=1e-6)


def test_a_ten_thousand_step_beta_schedule_is_fast():
    start = time.perf_counter()
    sigmas = beta_sigmas(10_000)
    elapsed = time.perf_counter() - start
    assert sigmas.shape == (10_001,) and (sigmas.diff() < 0).all()
    assert elapsed < 2.0, f"beta_sigmas(10000) took {elapsed:.2f} s"


@pytest.mark.parametrize("make, message", [
    (lambda: flow_shift_sigmas(0, 3.0), "steps"),
    (lambda: flow_shift_sigmas(4, -1.0), "shift"),
    (lambda: flux_sigmas(4, float("nan")), "mu"),
    (lambda: linear_quadratic_sigmas(8, linear_steps=8), "linear_steps"),
    (lambda: linear_quadratic_sigmas(8, threshold_noise=1.5), "threshold_noise"),
    (lambda: beta_sigmas(8, 0.0, 0.6), "alpha"),
    (lambda: beta_sigmas(8, 0.6, float("inf")), "beta"),
    (lambda: beta_sigmas(2.5), "steps"),
])
def test_bad_schedule_parameters_are_named(make, message):
    with pytest.raises(ScheduleError, match=message):
        make()
