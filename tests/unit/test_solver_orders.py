"""Every fixed-step solver converges at its theoretical order on an analytic Gaussian-mixture flow."""
import math

import pytest
import torch

from rectiflow.models.analytic_flows import four_mode_mixture
from rectiflow.samplers.solvers import SOLVERS, sample_flow_adaptive

SIGMA_END = 0.05  # stop short of sigma = 0, where generation swaps the last step for Euler
STEPS = (64, 128, 256)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def problem():
    flow = four_mode_mixture(std=0.4)
    x1 = torch.randn(32, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return flow, x1, flow.reference_solve(x1, 1.0, SIGMA_END)


def rough_mesh(steps: int) -> torch.Tensor:
    """Sigmas 1 -> SIGMA_END, warped towards noise, with interior steps alternating 1.5 h / 0.5 h (ratio 3).

    The abrupt step ratios make multistep coefficients that ignore variable steps drop to first order.
    """
    j = torch.arange(steps + 1, dtype=torch.float64)
    interior = ((j > 0) & (j < steps)).double()
    s = 1 - (j + 0.25 * (-1.0) ** j * interior) / steps
    return SIGMA_END + (1 - SIGMA_END) * 2 * s / (1 + s)


def rms_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).pow(2).mean().sqrt().item()


def fitted_order(steps, errors) -> float:
    """Least-squares slope of -log(error) against log(steps)."""
    xs, ys = [math.log(n) for n in steps], [math.log(e) for e in errors]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return -sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


ORDER_CASES = [
    ("euler", {}, 1), ("heun", {}, 2), ("rf_solver", {}, 2), ("fireflow", {}, 2), ("rk3", {}, 3),
    ("rk4", {}, 4), ("ab2", {}, 2), ("ab3", {"warmup": "heun"}, 3), ("pc", {}, 3),
]


@pytest.mark.parametrize("name, options, order", ORDER_CASES, ids=[f"{n}{o or ''}" for n, o, _ in ORDER_CASES])
def test_empirical_order_matches_theory(problem, name, options, order):
    flow, x1, exact = problem
    solver = SOLVERS[name].function
    errors = [rms_error(solver(flow.model, x1, rough_mesh(n), **options), exact) for n in STEPS]
    measured = fitted_order(STEPS, errors)
    assert abs(measured - order) < 0.3, f"{name}: errors {errors}, fitted order {measured:.2f}, expected {order}"
    assert SOLVERS[name].order == order


def test_ab3_euler_warmup_caps_the_order_at_two(problem):
    """AB3's default Euler first step (as DPM-Solver++ 3M) leaves an O(h^2) error that dominates as h -> 0 on a
    uniform mesh; the Heun warm-up removes it. (At the rough mesh's 64-256 steps both still measure 3.0.)"""
    flow, x1, exact = problem
    steps = (128, 256, 512)
    uniform = [SIGMA_END + (1 - SIGMA_END) * torch.linspace(1, 0, n + 1, dtype=torch.float64) for n in steps]
    solver = SOLVERS["ab3"].function
    euler_start = [rms_error(solver(flow.model, x1, s), exact) for s in uniform]
    heun_start = [rms_error(solver(flow.model, x1, s, warmup="heun"), exact) for s in uniform]
    assert abs(fitted_order(steps, euler_start) - 2) < 0.3, euler_start
    assert abs(fitted_order(steps, heun_start) - 3) < 0.3, heun_start
    assert heun_start[-1] < euler_start[-1] / 2


def test_fireflow_reaches_second_order_with_one_call_per_step(problem):
    """FireFlow's claim (arXiv 2412.07517): midpoint accuracy at Euler cost. Compare at equal model calls."""
    flow, x1, exact = problem
    fireflow = rms_error(SOLVERS["fireflow"].function(flow.model, x1, rough_mesh(127)), exact)  # 128 calls
    euler = rms_error(SOLVERS["euler"].function(flow.model, x1, rough_mesh(128)), exact)  # 128 calls
    midpoint = rms_error(SOLVERS["rf_solver"].function(flow.model, x1, rough_mesh(64)), exact)  # 128 calls
    assert fireflow < euler / 20, (fireflow, euler)
    assert fireflow < 2 * midpoint, (fireflow, midpoint)


def test_adaptive_error_follows_the_tolerance(problem):
    flow, x1, exact = problem
    sigmas = torch.tensor([1.0, SIGMA_END], dtype=torch.float64)
    errors, calls = [], []
    for rtol in (1e-3, 1e-5, 1e-7):
        count = []
        model = lambda x, s, **kw: count.append(1) or flow.model(x, s, **kw)
        out = sample_flow_adaptive(model, x1, sigmas, rtol=rtol, atol=rtol / 10, max_nfe=10_000)
        errors.append((out - exact).abs().max().item())
        calls.append(len(count))
        assert errors[-1] < 10 * rtol, (rtol, errors[-1])
    assert errors[0] > errors[1] > errors[2] and calls[0] < calls[1] < calls[2], (errors, calls)


def test_adaptive_passes_through_every_checkpoint(problem):
    flow, x1, exact = problem
    sigmas = torch.linspace(1.0, SIGMA_END, 5, dtype=torch.float64)
    seen = []
    out = sample_flow_adaptive(flow.model, x1, sigmas, rtol=1e-6, atol=1e-7,
                               callback=lambda d: seen.append(float(d["sigma"])))
    assert (out - exact).abs().max().item() < 1e-5
    assert all(float(s) in seen for s in sigmas[:-1]), "every checkpoint starts an accepted step"
    assert seen == sorted(seen, reverse=True) and len(seen) > 4
