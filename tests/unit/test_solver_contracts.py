"""What every solver promises ComfyUI: signature, cost, callbacks, dtypes, schedule errors, the sigma = 0 rule."""
import inspect

import pytest
import torch

from rectiflow.models.analytic_flows import four_mode_mixture
from rectiflow.samplers.schedules import ScheduleError
from rectiflow.samplers.solvers import (
    SOLVERS, SolverBudgetError, flow_velocity, rf_solver_step, rf_solver_step_midpoint, sample_adams_bashforth,
    sample_flow_adaptive, sample_flow_euler, sample_flow_sde, sample_rf_solver,
)

FLOW = four_mode_mixture(std=0.4)
NAMES = list(SOLVERS)
ODE_NAMES = [n for n in NAMES if n != "sde"]


pytestmark = pytest.mark.usefixtures("one_thread")


def noise(batch: int = 8, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(batch, 2, dtype=dtype, generator=torch.Generator().manual_seed(seed))


class RecordingModel:
    """The mixture's exact denoiser, recording every sigma and keyword argument it is called with."""

    def __init__(self):
        self.sigmas: list[float] = []
        self.kwargs: list[dict] = []

    def __call__(self, x, sigma, **kwargs):
        assert sigma.shape == (x.shape[0],), "sigma must come as sigma * s_in, one per batch row"
        self.sigmas.append(float(sigma[0]))
        self.kwargs.append(kwargs)
        return FLOW.model(x, sigma)


def test_registry_covers_the_solvers_with_the_ksampler_signature():
    assert set(SOLVERS) == {"euler", "heun", "rf_solver", "fireflow", "rk3", "rk4", "ab2", "ab3", "pc",
                            "adaptive", "sde"}
    for name, info in SOLVERS.items():
        params = inspect.signature(info.function).parameters
        assert list(params)[:6] == ["model", "x", "sigmas", "extra_args", "callback", "disable"], name
        assert params["extra_args"].default is None and params["callback"].default is None, name
        assert info.description and info.order >= 1, name


@pytest.mark.parametrize("name", [n for n in NAMES if SOLVERS[n].nfe_per_step is not None])
def test_model_calls_per_step_match_the_registry(name):
    info, model, steps = SOLVERS[name], RecordingModel(), 6
    info.function(model, noise(), torch.linspace(1.0, 0.1, steps + 1, dtype=torch.float64))
    assert len(model.sigmas) == info.nfe_per_step * steps + info.nfe_extra


@pytest.mark.parametrize("name", NAMES)
def test_generation_never_evaluates_the_model_at_sigma_zero(name):
    model = RecordingModel()
    out = SOLVERS[name].function(model, noise(), torch.linspace(1.0, 0.0, 6, dtype=torch.float64))
    assert min(model.sigmas) > 0, sorted(model.sigmas)[:3]
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["euler", "heun", "rk3", "rk4", "sde"])
def test_a_step_into_sigma_zero_lands_on_the_last_denoised(name):
    seen = []
    out = SOLVERS[name].function(FLOW.model, noise(), torch.linspace(1.0, 0.0, 5, dtype=torch.float64),
                                 callback=seen.append)
    torch.testing.assert_close(out, seen[-1]["denoised"], rtol=0, atol=1e-12)


@pytest.mark.parametrize("name, calls_per_step", [("heun", 2), ("rk3", 3), ("rk4", 4)])
def test_runge_kutta_stages_at_sigma_zero_are_free(name, calls_per_step):
    """With final_step="exact" the step into 0 takes every stage; the one at 0 is v(x, 0) = -x, no model call."""
    model, steps = RecordingModel(), 4
    SOLVERS[name].function(model, noise(), torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64),
                           final_step="exact")
    assert len(model.sigmas) == calls_per_step * steps - 1 and min(model.sigmas) > 0


def test_exact_heun_into_sigma_zero_uses_minus_x_as_the_last_stage():
    """Heun's final_step="exact" last step from (x, s) is x + h (v + v_end) / 2 with v_end = -(x + h v), computed by hand."""
    seen = []
    out = SOLVERS["heun"].function(FLOW.model, noise(), torch.tensor([1.0, 0.4, 0.0], dtype=torch.float64),
                                   callback=seen.append, final_step="exact")
    x, sigma = seen[-1]["x"], float(seen[-1]["sigma"])
    v = FLOW.velocity(x, sigma)
    h = 0.0 - sigma
    torch.testing.assert_close(out, x + h * (v - (x + h * v)) / 2, rtol=0, atol=1e-12)


def test_flow_velocity_at_sigma_zero_is_minus_x_without_a_call():
    model, x = RecordingModel(), noise()
    v, denoised = flow_velocity(model, x, torch.tensor(0.0, dtype=torch.float64), {})
    assert model.sigmas == [] and torch.equal(v, -x) and torch.equal(denoised, x)


@pytest.mark.parametrize("name", NAMES)
def test_extra_args_reach_the_model(name):
    model = RecordingModel()
    extra = {"model_options": {"transformer_options": {}}, "seed": 7}
    SOLVERS[name].function(model, noise(), torch.linspace(1.0, 0.0, 4, dtype=torch.float64), extra_args=extra)
    assert model.kwargs and all(kw == extra for kw in model.kwargs)


@pytest.mark.parametrize("name", NAMES)
def test_callback_reports_each_step_and_the_dtype_comes_back(name):
    steps, seen = 5, []
    sigmas = torch.linspace(1.0, 0.0, steps + 1)
    x = noise(batch=3, dtype=torch.float32).reshape(3, 2, 1).to(torch.bfloat16)  # any trailing shape
    out = SOLVERS[name].function(FLOW.model, x, sigmas, callback=seen.append)
    assert out.dtype == torch.bfloat16 and out.shape == x.shape and torch.isfinite(out.float()).all()
    indices = [d["i"] for d in seen]
    if name == "adaptive":
        assert indices == list(range(len(seen))) and len(seen) >= 1
        return
    assert indices == list(range(steps))
    assert [float(d["sigma"]) for d in seen] == pytest.approx(sigmas[:-1].tolist())
    assert all(d["x"].dtype == torch.float32 and d["denoised"].shape == x.shape for d in seen)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("sigmas, message", [
    (torch.tensor([1.0, 0.5, 0.7, 0.0]), "strictly decreasing"),
    (torch.tensor([1.0, 0.5, -0.1]), r"\[0, 1\]"),
    (torch.tensor([0.0, 1.2]), r"\[0, 1\]"),
    (torch.tensor([1.0]), "at least 2"),
    (torch.tensor([1.0, float("nan"), 0.0]), "NaN"),
], ids=["non-monotonic", "negative", "above-one", "too-short", "nan"])
def test_bad_schedules_raise_a_named_schedule_error(name, sigmas, message):
    with pytest.raises(ScheduleError, match=message):
        SOLVERS[name].function(FLOW.model, noise(), sigmas)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_sde_with_zero_noise_is_the_euler_sampler_bit_for_bit(dtype):
    sigmas = torch.linspace(1.0, 0.0, 9, dtype=dtype)
    euler = sample_flow_euler(FLOW.model, noise(dtype=dtype), sigmas)
    sde = sample_flow_sde(FLOW.model, noise(dtype=dtype), sigmas, extra_args={"seed": 3}, noise_scale=0.0)
    assert torch.equal(sde, euler)


def test_sde_noise_is_reproducible_from_the_seed():
    sigmas = torch.linspace(1.0, 0.0, 9, dtype=torch.float64)
    run = lambda **kw: sample_flow_sde(FLOW.model, noise(), sigmas, noise_scale=1.0, **kw)
    euler = sample_flow_euler(FLOW.model, noise(), sigmas)
    assert torch.equal(run(extra_args={"seed": 1}), run(extra_args={"seed": 1}))
    assert not torch.allclose(run(extra_args={"seed": 1}), run(extra_args={"seed": 2}))
    assert not torch.allclose(run(extra_args={"seed": 1}), euler, atol=1e-3)


def test_sde_uses_the_given_noise_sampler():
    sigmas = torch.linspace(1.0, 0.0, 9, dtype=torch.float64)
    calls = []

    def zero_noise(sigma, sigma_next):
        calls.append((float(sigma), float(sigma_next)))
        return torch.zeros(8, 2, dtype=torch.float64)

    out = sample_flow_sde(FLOW.model, noise(), sigmas, noise_scale=1.0, noise_sampler=zero_noise)
    assert len(calls) == 7 and calls[0] == pytest.approx((1.0, 0.875))  # no noise into sigma = 0
    # zero noise leaves only the score-corrected drift: still deterministic, no longer Euler
    assert torch.equal(out, sample_flow_sde(FLOW.model, noise(), sigmas, noise_scale=1.0, noise_sampler=zero_noise))
    assert not torch.allclose(out, sample_flow_euler(FLOW.model, noise(), sigmas), atol=1e-3)


@pytest.mark.parametrize("noise_scale", [1.0, 2.0])
def test_sde_keeps_the_marginals_of_the_flow(noise_scale):
    """Data N(0, 0.5^2 I): whatever the noise level, the samples must end with std 0.5 (the ODE's marginal)."""
    from rectiflow.models.analytic_flows import GaussianMixtureFlow
    gaussian = GaussianMixtureFlow([[0.0] * 4], std=0.5)
    x1 = torch.randn(2000, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    out = sample_flow_sde(gaussian.model, x1, torch.linspace(1.0, 0.0, 61, dtype=torch.float64),
                          extra_args={"seed": 5}, noise_scale=noise_scale)
    assert out.std().item() == pytest.approx(0.5, rel=0.03)
    assert out.mean().abs().item() < 0.03


def test_sde_refuses_inversion_and_unknown_options():
    with pytest.raises(ValueError, match="sigmas"):
        sample_flow_sde(FLOW.model, noise(), torch.linspace(0.0, 1.0, 5))
    with pytest.raises(ValueError, match="diffusion"):
        sample_flow_sde(FLOW.model, noise(), torch.linspace(1.0, 0.0, 5), diffusion="cubic")


@pytest.mark.parametrize("sigma, sigma_next", [(1.0, 0.8), (0.6, 0.25), (0.1, 0.4), (0.0, 0.3)])
def test_rf_solver_taylor_step_is_the_midpoint_step(sigma, sigma_next):
    velocity = lambda x, s: flow_velocity(FLOW.model, x, s, {})
    x = noise(seed=4)
    s, s_next = torch.tensor(sigma, dtype=torch.float64), torch.tensor(sigma_next, dtype=torch.float64)
    v, _ = velocity(x, s)
    taylor = rf_solver_step(velocity, x, s, s_next, v)
    midpoint = rf_solver_step_midpoint(velocity, x, s, s_next, v)
    torch.testing.assert_close(taylor, midpoint, rtol=0, atol=1e-13)
    euler = x + (s_next - s) * v
    assert (taylor - euler).abs().max() > 1e-4, "the second-order term must matter on a curved flow"


def test_rf_solver_sampler_is_a_chain_of_midpoint_steps():
    sigmas = torch.linspace(1.0, 0.05, 7, dtype=torch.float64)
    velocity = lambda x, s: flow_velocity(FLOW.model, x, s, {})
    x = noise(seed=5)
    for i in range(len(sigmas) - 1):
        x = rf_solver_step_midpoint(velocity, x, sigmas[i], sigmas[i + 1], velocity(x, sigmas[i])[0])
    torch.testing.assert_close(sample_rf_solver(FLOW.model, noise(seed=5), sigmas), x, rtol=0, atol=1e-13)


def test_adaptive_stops_with_a_clear_error_when_the_budget_runs_out():
    with pytest.raises(SolverBudgetError, match="max_nfe=20"):
        sample_flow_adaptive(FLOW.model, noise(), torch.tensor([1.0, 0.0], dtype=torch.float64),
                             rtol=1e-9, atol=1e-10, max_nfe=20)
    with pytest.raises(ValueError, match="rtol"):
        sample_flow_adaptive(FLOW.model, noise(), torch.tensor([1.0, 0.0]), rtol=0.0)


def test_adaptive_stays_within_its_budget():
    model = RecordingModel()
    sample_flow_adaptive(model, noise(), torch.tensor([1.0, 0.0], dtype=torch.float64), rtol=1e-4, max_nfe=400)
    assert 3 < len(model.sigmas) <= 400


@pytest.mark.parametrize("name", ["heun", "rk3", "rk4", "pc"])
def test_final_step_is_checked_by_name(name):
    with pytest.raises(ValueError, match="final_step"):
        SOLVERS[name].function(FLOW.model, noise(), torch.linspace(1.0, 0.0, 5), final_step="Exact")


@pytest.mark.parametrize("options, message", [
    ({"start": "rk45"}, "start"), ({"order": 4}, "order"), ({"order": 0}, "order"),
    ({"max_step_ratio": float("nan")}, "max_step_ratio"), ({"max_step_ratio": 0.5}, "max_step_ratio"),
])
def test_adams_bashforth_rejects_bad_options_by_name(options, message):
    with pytest.raises(ValueError, match=message):
        sample_adams_bashforth(FLOW.model, noise(), torch.linspace(1.0, 0.0, 5), **options)
