"""Learned few-step solvers (samplers/learned) on the exact 2-D four-mode mixture flow."""
import pytest
import torch

from rectiflow.models.analytic_flows import four_mode_mixture
from rectiflow.samplers.learned import (
    FitData, LearnedSigmasError, LearnedSolver, ab2_rows, check_learned_sigmas, euler_rows, fit_solver,
    learn_solver, model_velocity, nelder_mead, rk4_reference, sample_learned, sigmas_from_logits,
)
from rectiflow.samplers.solvers import sample_flow_euler

FLOW = four_mode_mixture()
VELOCITY = model_velocity(FLOW.model)
GRID = torch.linspace(1, 0, 33, dtype=torch.float64)


def noise(seed: int, batch: int = 64) -> torch.Tensor:
    return torch.randn(batch, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def data(seeds) -> FitData:
    starts = [noise(s) for s in seeds]
    return FitData(starts, [rk4_reference(VELOCITY, x, GRID) for x in starts])


TRAIN, VAL = data([10, 11]), data([0])
EXACT_VAL = FLOW.reference_solve(VAL.starts[0], 1.0, 0.0, steps_per_unit=250)


def val_rmse(solver: LearnedSolver) -> float:
    return float((solver.run(VELOCITY, VAL.starts[0]) - EXACT_VAL).pow(2).mean().sqrt())


def test_reference_interpolates_the_exact_flow_between_grid_points():
    reference = VAL.references[0]
    exact = FLOW.reference_solve(VAL.starts[0], 1.0, 0.37, steps_per_unit=250)
    assert float((reference.at(0.37) - exact).abs().max()) < 1e-5
    assert float((reference.final - EXACT_VAL).abs().max()) < 1e-4


def test_euler_rows_are_flow_euler():
    sigmas = torch.linspace(1, 0, 5, dtype=torch.float64)
    ours = LearnedSolver(sigmas, euler_rows(sigmas)).run(VELOCITY, VAL.starts[0])
    torch.testing.assert_close(ours, sample_flow_euler(FLOW.model, VAL.starts[0], sigmas), rtol=0, atol=1e-12)


@pytest.mark.parametrize("nfe", [4, 6])
def test_learned_solver_beats_euler_and_ab2_on_held_out_noise(nfe):
    start = torch.linspace(1, 0, nfe + 1, dtype=torch.float64)
    fit = fit_solver(VELOCITY, TRAIN, nfe, 30, {"uniform": start})
    learned = val_rmse(fit.solver)
    euler = val_rmse(LearnedSolver(start, euler_rows(start)))
    ab2 = val_rmse(LearnedSolver(start, ab2_rows(start)))
    assert learned < 0.5 * min(euler, ab2), (learned, euler, ab2)
    assert fit.train_rmse <= fit.start_rmse


def test_fit_is_deterministic_and_sigmas_are_monotone_from_1_to_0():
    start = torch.linspace(1, 0, 5, dtype=torch.float64)
    a = fit_solver(VELOCITY, TRAIN, 4, 15, {"uniform": start})
    b = fit_solver(VELOCITY, TRAIN, 4, 15, {"uniform": start})
    torch.testing.assert_close(a.solver.sigmas, b.solver.sigmas, rtol=0, atol=0)
    for row_a, row_b in zip(a.solver.rows, b.solver.rows):
        torch.testing.assert_close(row_a, row_b, rtol=0, atol=0)
    s = a.solver.sigmas
    assert float(s[0]) == 1.0 and float(s[-1]) == 0.0 and bool((s[1:] < s[:-1]).all())


def test_sigmas_from_logits_are_strictly_decreasing_even_for_extreme_logits():
    s = sigmas_from_logits(torch.tensor([0.0, 40.0, -40.0, 3.0], dtype=torch.float64))
    assert float(s[0]) == 1.0 and float(s[-1]) == 0.0 and bool((s[1:] <= s[:-1]).all())


def test_nelder_mead_finds_a_quadratic_minimum():
    target = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    best, value = nelder_mead(lambda p: float((p - target).pow(2).sum()), torch.zeros(3, dtype=torch.float64), 300)
    assert value < 1e-6 and float((best - target).abs().max()) < 1e-3


def test_learned_sampler_refuses_other_sigmas_and_inversion():
    solver = LearnedSolver(torch.linspace(1, 0, 4, dtype=torch.float64), euler_rows(torch.linspace(1, 0, 4)))
    check_learned_sigmas(solver.sigmas.float(), solver)
    with pytest.raises(LearnedSigmasError, match="sigmas: a learned solver runs only"):
        sample_learned(FLOW.model, VAL.starts[0], torch.linspace(1, 0, 5), learned=solver)
    with pytest.raises(LearnedSigmasError, match="sigmas: increasing sigmas"):
        sample_learned(FLOW.model, VAL.starts[0], torch.linspace(0, 1, 4), learned=solver)


def test_learn_solver_reports_train_and_validation_error_and_the_fixed_solvers():
    progress = []
    report = learn_solver(FLOW.model, None, TRAIN.starts, VAL.starts, 4, 12, GRID,
                          lambda steps: torch.linspace(1, 0, steps + 1, dtype=torch.float64),
                          lambda done, total: progress.append((done, total)))
    assert report.val_rmse == report.curves["learned"][4] and report.train_rmse > 0
    assert set(report.curves["learned"]) == {2, 4}
    assert report.val_rmse < report.curves["best fixed"][4] < report.curves["euler"][4]
    assert progress[-1][0] == progress[-1][1] and all(d <= t for d, t in progress)
    assert report.reference_calls > 0 and report.fit_calls > 0


def test_global_refinement_lowers_the_final_error_and_keeps_sigmas():
    start = torch.linspace(1, 0, 4, dtype=torch.float64)
    fit = fit_solver(VELOCITY, TRAIN, 3, 4, {"uniform": start}, refine_iterations=2)
    assert fit.train_rmse < 0.9 * fit.search_rmse
    plain = fit_solver(VELOCITY, TRAIN, 3, 4, {"uniform": start})
    torch.testing.assert_close(fit.solver.sigmas, plain.solver.sigmas, rtol=0, atol=0)
    assert val_rmse(fit.solver) < val_rmse(plain.solver)
