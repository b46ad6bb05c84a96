"""Every fixed-step solver converges at its theoretical order on an analytic Gaussian-mixture flow."""
import math

import pytest
import torch

from rectiflow.models.analytic_flows import GaussianMixtureFlow, four_mode_mixture, latent_mixture
from rectiflow.samplers.solvers import SOLVERS, sample_flow_adaptive

STEPS = (64, 128, 256)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def problem():
    """Integrate 1 -> 0 as users sample; the reference is an independent float64 RK4 solve to sigma 0."""
    flow = four_mode_mixture(std=0.4)
    x1 = torch.randn(32, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return flow, x1, flow.reference_solve(x1, 1.0, 0.0)


@pytest.fixture(scope="module")
def other_problem():
    """A flow, seed and weights the solvers were not tuned on: three unequal modes, std 0.3."""
    flow = GaussianMixtureFlow([[1.5, 0.3], [-1.0, 1.2], [0.2, -1.4]], std=0.3, weights=[0.5, 0.3, 0.2])
    x1 = torch.randn(32, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(123))
    return flow, x1, flow.reference_solve(x1, 1.0, 0.0, steps_per_unit=2000)


def rough_mesh(steps: int) -> torch.Tensor:
    """Sigmas 1 -> 0, warped towards noise, with interior steps alternating 1.2 h / 0.8 h (ratio 1.5).

    The uneven steps make multistep coefficients that ignore variable steps drop to first order; the ratio stays
    below the multistep solvers' max_step_ratio (2), above which they lower their order on purpose.
    """
    j = torch.arange(steps + 1, dtype=torch.float64)
    interior = ((j > 0) & (j < steps)).double()
    s = 1 - (j + 0.1 * (-1.0) ** j * interior) / steps
    return 2 * s / (1 + s)


def shifted_mesh(steps: int, shift: float = 3.0) -> torch.Tensor:
    """SD3's shifted schedule sigma = shift t / (1 + (shift - 1) t) on a uniform t grid, 1 -> 0."""
    t = torch.linspace(1, 0, steps + 1, dtype=torch.float64)
    return shift * t / (1 + (shift - 1) * t)


def rms_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).pow(2).mean().sqrt().item()


def typical_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """Median over samples of the per-sample error. A sample that starts near the boundary between two modes reaches
    the asymptotic regime only at far smaller steps and would dominate an RMS; the median follows the typical one."""
    return (a - b).flatten(1).norm(dim=1).median().item()


def fitted_order(steps, errors) -> float:
    """Least-squares slope of -log(error) against log(steps)."""
    xs, ys = [math.log(n) for n in steps], [math.log(e) for e in errors]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return -sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


EXACT = {"final_step": "exact"}
# (solver, options, order measured on 1 -> 0, highest accepted fit). At their defaults RK3 and RK4 take the Euler
# step onto x0_hat into sigma 0 (robust on trained models), which makes them second order there; final_step="exact"
# uses the exact v(x, 0) = -x as the stage at 0 and restores 3 and 4. The predictor-corrector's last step is an
# uncorrected AB2 step: its O(h^3) error keeps order 3 as h -> 0 but still weighs at these step counts (2.6-2.9).
ORDER_CASES = [
    ("euler", {}, 1, 1.3), ("heun", {}, 2, 2.3), ("rf_solver", {}, 2, 2.3), ("fireflow", {}, 2, 2.3),
    ("rk3", {}, 2, 2.3), ("rk4", {}, 2, 2.3), ("ab2", {}, 2, 2.3), ("ab3", {}, 3, 3.3), ("pc", {}, 2.75, 3.3),
    ("heun", EXACT, 2, 2.3), ("rk3", EXACT, 3, 3.3), ("rk4", EXACT, 4, 4.3), ("pc", EXACT, 3, 3.5),
]
CASE_IDS = [f"{n}{'-exact' if o else ''}" for n, o, _, _ in ORDER_CASES]


def measured_order(flow, x1, exact, name, options, mesh, steps=STEPS) -> tuple[float, list[float]]:
    solver = SOLVERS[name].function
    errors = [typical_error(solver(flow.model, x1, mesh(n), **options), exact) for n in steps]
    return fitted_order(steps, errors), errors


@pytest.mark.parametrize("name, options, order, highest", ORDER_CASES, ids=CASE_IDS)
def test_empirical_order_to_sigma_zero_matches_theory(problem, name, options, order, highest):
    measured, errors = measured_order(*problem, name, options, rough_mesh)
    assert order - 0.3 < measured < highest, f"{name}: errors {errors}, fitted order {measured:.2f}, expected {order}"


@pytest.mark.parametrize("name, options, order, highest", ORDER_CASES, ids=CASE_IDS)
def test_order_holds_on_another_flow_seed_and_the_shifted_schedule(other_problem, name, options, order, highest):
    measured, errors = measured_order(*other_problem, name, options, shifted_mesh)
    assert order - 0.35 < measured < highest + 0.05, f"{name}: {errors}, fitted order {measured:.2f}, expected {order}"


def test_exact_final_stage_costs_accuracy_on_narrow_data():
    """Why final_step="denoised" is the default: on narrow modes (std 0.01, like images near their manifold) the
    trajectory's velocity tends to eps - x0 as sigma -> 0, not to -x, and Heun's stage at 0 averages in that jump."""
    flow = four_mode_mixture(std=0.01)
    x1 = torch.randn(64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    exact = flow.reference_solve(x1, 1.0, 0.0, steps_per_unit=4000)
    for steps in (16, 32):
        denoised = rms_error(SOLVERS["heun"].function(flow.model, x1, shifted_mesh(steps)), exact)
        at_zero = rms_error(SOLVERS["heun"].function(flow.model, x1, shifted_mesh(steps), **EXACT), exact)
        assert denoised < at_zero / 2, (steps, denoised, at_zero)


def test_ab3_euler_start_caps_the_order_at_two(problem):
    """AB3 started with Euler (as DPM-Solver++ 3M) keeps that step's O(h^2) error, which dominates as h -> 0 on a
    uniform mesh; the default Heun start removes it for one extra call."""
    flow, x1, exact = problem
    steps = (128, 256, 512)
    uniform = lambda n: torch.linspace(1, 0, n + 1, dtype=torch.float64)  # noqa: E731
    euler_start, euler_errors = measured_order(flow, x1, exact, "ab3", {"start": "euler"}, uniform, steps)
    heun_start, heun_errors = measured_order(flow, x1, exact, "ab3", {}, uniform, steps)
    assert abs(euler_start - 2) < 0.3, euler_errors
    assert abs(heun_start - 3) < 0.3, heun_errors
    assert heun_errors[-1] < euler_errors[-1] / 2


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
    sigmas = torch.tensor([1.0, 0.0], dtype=torch.float64)
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
    sigmas = torch.linspace(1.0, 0.0, 5, dtype=torch.float64)
    seen = []
    out = sample_flow_adaptive(flow.model, x1, sigmas, rtol=1e-6, atol=1e-7,
                               callback=lambda d: seen.append(float(d["sigma"])))
    assert (out - exact).abs().max().item() < 1e-5
    assert all(float(s) in seen for s in sigmas[:-1]), "every checkpoint starts an accepted step"
    assert seen == sorted(seen, reverse=True) and len(seen) > 4


@pytest.mark.parametrize("seed", [3, 11])
def test_adaptive_error_falls_with_the_tolerance_on_latents(seed):
    """Loose tolerances start with a large step (Hairer's estimate) instead of growing from 0.01: rtol 0.3 is no
    longer more accurate than 0.1 at the same cost, as it was on this 4x32x32 mixture."""
    flow = latent_mixture()
    x1 = torch.randn(8, 4, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    exact = flow.reference_solve(x1, 1.0, 0.0, steps_per_unit=400)
    errors, calls = [], []
    for rtol in (0.3, 0.1, 0.03):
        count = []
        model = lambda x, s, **kw: count.append(1) or flow.model(x, s, **kw)  # noqa: E731
        out = sample_flow_adaptive(model, x1.float(), torch.tensor([1.0, 0.0]), rtol=rtol, atol=rtol / 10,
                                   max_nfe=1000)
        errors.append(rms_error(out.double(), exact))
        calls.append(len(count))
    assert errors[0] >= errors[1] >= errors[2] and calls[0] <= calls[1] <= calls[2], (errors, calls)
