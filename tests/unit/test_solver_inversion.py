"""Inversion (sigma 0 -> 1) followed by generation (1 -> 0) with the same solver returns the data."""
import pytest
import torch

from rectiflow.models.analytic_flows import four_mode_mixture
from rectiflow.samplers.solvers import SOLVERS, sample_flow_adaptive

FLOW = four_mode_mixture(std=0.4)
STEPS = (8, 16, 32, 64, 128)
# worst-sample round-trip error allowed at 128 steps; Euler is first order, and the rest are second order or
# better (Heun/RK3/RK4 end generation with the Euler step onto x0_hat, which caps them at O(h^2) here)
TOLERANCE_AT_128 = {"euler": 0.06}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    return FLOW.sample(32, torch.Generator().manual_seed(5))


def round_trip_error(solver, x0: torch.Tensor, up: torch.Tensor, **options) -> float:
    noise = solver(FLOW.model, x0, up, **options)
    return (solver(FLOW.model, noise, up.flip(0), **options) - x0).abs().max().item()


@pytest.mark.parametrize("name", [n for n in SOLVERS if SOLVERS[n].nfe_per_step is not None and n != "sde"])
def test_round_trip_error_shrinks_with_steps(data, name):
    solver = SOLVERS[name].function
    errors = [round_trip_error(solver, data, torch.linspace(0, 1, n + 1, dtype=torch.float64)) for n in STEPS]
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < TOLERANCE_AT_128.get(name, 1e-3), errors


def test_inversion_alone_matches_the_exact_flow(data):
    exact = FLOW.reference_solve(data, 0.0, 1.0)
    up = torch.linspace(0, 1, 65, dtype=torch.float64)
    for name in ("rf_solver", "rk4", "pc"):
        assert (SOLVERS[name].function(FLOW.model, data, up) - exact).abs().max().item() < 1e-3, name


def test_adaptive_round_trip_tightens_with_the_tolerance(data):
    up = torch.tensor([0.0, 1.0], dtype=torch.float64)
    errors = [round_trip_error(sample_flow_adaptive, data, up, rtol=rtol, atol=rtol / 10, max_nfe=5000)
              for rtol in (1e-2, 1e-4, 1e-6)]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < 1e-5, errors


def test_inversion_lands_on_gaussian_noise():
    """Inverting many data points must give N(0, I) at sigma = 1: the flow's marginal there."""
    x0 = FLOW.sample(4000, torch.Generator().manual_seed(6))
    noise = SOLVERS["rf_solver"].function(FLOW.model, x0, torch.linspace(0, 1, 33, dtype=torch.float64))
    assert noise.mean(0).abs().max().item() < 0.06
    torch.testing.assert_close(torch.cov(noise.T), torch.eye(2, dtype=torch.float64), rtol=0, atol=0.08)
