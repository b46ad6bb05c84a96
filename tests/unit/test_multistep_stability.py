"""Multistep solvers stay stable on schedules that jump: linear-quadratic and optimal (BOSS) steps, latent case."""
import pytest
import torch

from rectiflow.models.analytic_flows import latent_mixture
from rectiflow.samplers import schedules, trajectory
from rectiflow.samplers.solvers import SOLVERS, usable_order

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def latent_problem():
    flow = latent_mixture(channels=4, size=16, modes=8, seed=4)
    x1 = torch.randn(4, 4, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(21))
    fine = trajectory.reference_trajectory(flow.model, x1, torch.linspace(1, 0, 65, dtype=torch.float64))
    return flow, x1, flow.reference_solve(x1, 1.0, 0.0, steps_per_unit=200), fine


def jumping_schedules(fine, steps: int) -> dict[str, torch.Tensor]:
    return {"linear_quadratic": schedules.linear_quadratic_sigmas(steps).double(),
            "optimal": trajectory.optimal_sigmas(fine, steps).double()}


def rmse(a, b) -> float:
    return (a - b).pow(2).mean().sqrt().item()


@pytest.mark.parametrize("steps", [6, 8, 12])
@pytest.mark.parametrize("name", ["ab2", "ab3", "pc"])
def test_multistep_is_no_worse_than_euler_on_jumping_schedules(latent_problem, name, steps):
    flow, x1, exact, fine = latent_problem
    for label, sigmas in jumping_schedules(fine, steps).items():
        ratios = (sigmas[1:-1] - sigmas[2:]) / (sigmas[:-2] - sigmas[1:-1])
        assert ratios.max() > 3, f"{label} must jump for this test to mean anything"
        euler = rmse(SOLVERS["euler"].function(flow.model, x1, sigmas), exact)
        multistep = rmse(SOLVERS[name].function(flow.model, x1, sigmas), exact)
        assert multistep <= 1.1 * euler, (label, multistep, euler)


def test_without_the_ratio_limit_ab3_diverges_on_linear_quadratic(latent_problem):
    """The limit is what keeps ab3 stable: switched off, the same run is several times worse than Euler."""
    flow, x1, exact, fine = latent_problem
    sigmas = schedules.linear_quadratic_sigmas(8).double()
    euler = rmse(SOLVERS["euler"].function(flow.model, x1, sigmas), exact)
    unlimited = rmse(SOLVERS["ab3"].function(flow.model, x1, sigmas, max_step_ratio=1000.0), exact)
    assert unlimited > 3 * euler, (unlimited, euler)


@pytest.mark.parametrize("steps, order, expected", [
    ([0.1], 3, 1),                  # first step: one history point
    ([0.1, 0.2], 3, 2),             # ratio 2 is allowed
    ([0.1, 0.25], 3, 1),            # ratio 2.5: Euler
    ([0.1, 0.1, 0.1], 3, 3),
    ([0.01, 0.1, 0.15], 3, 2),      # the jump one step back limits the order to 2
    ([0.1, 0.1, 0.1], 2, 2),
])
def test_usable_order_follows_the_step_ratios(steps, order, expected):
    assert usable_order([-h for h in steps], order, 2.0) == expected
