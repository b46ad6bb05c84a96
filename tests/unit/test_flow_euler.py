"""Flow Euler against exact solutions of analytic flows."""
import math

import pytest
import torch

from rectiflow.samplers.schedules import ScheduleError, validate_sigmas
from rectiflow.samplers.solvers import sample_flow_euler


def gaussian_denoiser(data_std: float):
    """x0_hat = E[x0 | x_sigma] for data ~ N(0, data_std^2 I) under x = (1 - s) x0 + s eps."""
    def model(x, sigma, **_):
        s = sigma.view(-1, *([1] * (x.ndim - 1))).to(x.dtype)
        var = (1 - s) ** 2 * data_std ** 2 + s ** 2
        return (1 - s) * data_std ** 2 / var * x
    return model


def gaussian_exact(x1: torch.Tensor, data_std: float, sigma: float) -> torch.Tensor:
    """The probability-flow ODE scales x by the ratio of marginal stds std(sigma) / std(1)."""
    return x1 * math.sqrt((1 - sigma) ** 2 * data_std ** 2 + sigma ** 2)


def test_euler_is_exact_on_a_straight_flow():
    target = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64)
    x1 = torch.randn(1, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    point_mass = lambda x, sigma, **_: target.expand_as(x)
    for steps in (1, 3, 7):
        out = sample_flow_euler(point_mass, x1, torch.linspace(1, 0, steps + 1))
        torch.testing.assert_close(out.double(), target, atol=1e-6, rtol=0)


def test_euler_converges_first_order_to_the_gaussian_flow():
    x1 = torch.randn(64, 4, generator=torch.Generator().manual_seed(1))
    exact = gaussian_exact(x1, 0.5, 0.0)
    errors = [(sample_flow_euler(gaussian_denoiser(0.5), x1, torch.linspace(1, 0, n + 1)) - exact).abs().max().item()
              for n in (16, 32, 64)]
    orders = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    assert all(abs(o - 1.0) < 0.3 for o in orders), (errors, orders)


def test_euler_reports_every_step_and_keeps_dtype():
    seen = []
    x = torch.randn(2, 1, 4, 4).to(torch.bfloat16)
    out = sample_flow_euler(gaussian_denoiser(1.0), x, torch.linspace(1, 0, 6), callback=lambda d: seen.append(d["i"]))
    assert seen == [0, 1, 2, 3, 4]
    assert out.dtype == torch.bfloat16


@pytest.mark.parametrize("sigmas, message", [
    (torch.tensor([1.0, 0.5, 0.7, 0.0]), "strictly decreasing"),
    (torch.tensor([1.5, 0.5, 0.0]), r"\[0, 1\]"),
    (torch.tensor([1.0]), "at least 2"),
    (torch.tensor([1.0, float("nan"), 0.0]), "NaN"),
])
def test_bad_schedules_are_named(sigmas, message):
    with pytest.raises(ScheduleError, match=message):
        validate_sigmas(sigmas)
