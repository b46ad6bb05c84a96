"""FlowEdit (arXiv 2412.08629) and RF-Inversion (arXiv 2410.10792) against their papers' update rules, written
out independently here in each paper's own form, on an analytic class-conditional flow with exact velocities."""
import pytest
import torch

from rectiflow.models.analytic_flows import four_mode_mixture
from rectiflow.samplers.editing import flow_edit, rf_inversion
from rectiflow.samplers.solvers import sample_flow_euler

FLOW = four_mode_mixture(std=0.3)
SOURCE_MODE, TARGET_MODE = 0, 2
pytestmark = pytest.mark.usefixtures("one_thread")


def conditioned(mode: int):
    """Exact velocity of the mixture conditioned on one mode (a 'label'), as a (x, sigma) callable."""
    def v(x: torch.Tensor, sigma: float) -> torch.Tensor:
        logits = torch.full((x.shape[0], 4), -30.0, dtype=torch.float64)
        logits[:, mode] = 0.0
        return FLOW.velocity(x, sigma, logits)
    return v


def source_points(n: int = 16) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    return FLOW.means[SOURCE_MODE] + 0.3 * torch.randn(n, 2, dtype=torch.float64, generator=gen)


def noise_draws(seed: int, shape):
    gen = torch.Generator().manual_seed(seed)
    return lambda: torch.randn(shape, dtype=torch.float64, generator=gen)


def official_flowedit(v_src, v_tar, x_src, timesteps, draw, n_max, n_min, n_avg):
    """FlowEditSD3's loop (official code) with t = sigma, transcribed."""
    T = len(timesteps) - 1
    zt_edit = x_src.clone()
    for i in range(T):
        if T - i > n_max:
            continue
        t_i, t_im1 = timesteps[i], timesteps[i + 1]
        if T - i > n_min:
            v_delta = torch.zeros_like(x_src)
            for _ in range(n_avg):
                zt_src = (1 - t_i) * x_src + t_i * draw()
                zt_tar = zt_edit + zt_src - x_src
                v_delta += (1 / n_avg) * (v_tar(zt_tar, t_i) - v_src(zt_src, t_i))
            zt_edit = zt_edit + (t_im1 - t_i) * v_delta
        else:
            if i == T - n_min:
                xt_src = t_i * draw() + (1 - t_i) * x_src
                xt_tar = zt_edit + xt_src - x_src
            xt_tar = xt_tar + (t_im1 - t_i) * v_tar(xt_tar, t_i)
    return zt_edit if n_min == 0 else xt_tar


SIGMAS = torch.linspace(1, 0, 21, dtype=torch.float64)


@pytest.mark.parametrize("n_max, n_min, n_avg", [(14, 0, 1), (20, 0, 2), (14, 4, 1), (30, 0, 1)])
def test_flowedit_matches_official_loop(n_max, n_min, n_avg):
    x_src, values = source_points(), SIGMAS.tolist()
    ours = flow_edit(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), x_src, SIGMAS, noise_draws(7, x_src.shape),
                     n_max, n_min, n_avg)
    reference = official_flowedit(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), x_src, values,
                                  noise_draws(7, x_src.shape), n_max, n_min, n_avg)
    assert torch.allclose(ours, reference, atol=1e-12, rtol=0)


def test_flowedit_with_equal_conditioning_leaves_the_source_unchanged():
    x_src = source_points()
    out = flow_edit(conditioned(SOURCE_MODE), conditioned(SOURCE_MODE), x_src, SIGMAS, noise_draws(1, x_src.shape), 14)
    assert (out - x_src).abs().max().item() < 1e-12


def test_flowedit_moves_the_source_to_the_target_mode():
    x_src = source_points()
    out = flow_edit(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), x_src, SIGMAS, noise_draws(2, x_src.shape),
                    20)
    nearest = torch.cdist(out, FLOW.means).argmin(1)
    assert (nearest == TARGET_MODE).float().mean().item() >= 0.9


def test_flowedit_rejects_n_min_above_n_max():
    with pytest.raises(ValueError, match="n_min"):
        flow_edit(conditioned(0), conditioned(1), source_points(), SIGMAS, noise_draws(0, (16, 2)), 5, 6)


def official_rf_inversion(v_src, v_tar, y_0, y_1, sigmas, gamma, eta, start, stop):
    """The diffusers pipeline's loops in the paper's time t = 1 - sigma, where the model's output is the velocity
    toward noise (noise_pred = dx/dsigma) and u = -noise_pred points to the image."""
    N = len(sigmas)
    up = sigmas.flip(0).tolist()
    Y_t = y_0.clone()
    for i in range(N - 1):                          # invert(): timestep t_i runs 0 -> 1 and is the model's sigma
        t_i = up[i]
        u_t_i = v_src(Y_t, t_i)
        u_t_i_cond = (y_1 - Y_t) / (1 - t_i)
        u_hat_t_i = u_t_i + gamma * (u_t_i_cond - u_t_i)
        Y_t = Y_t + u_hat_t_i * (up[i + 1] - up[i])
    latents, down = Y_t, sigmas.tolist()
    for i in range(N - 1):                          # __call__: t_i = 1 - sigma
        t_i = 1 - down[i]
        v_t = -v_tar(latents, down[i])
        v_t_cond = (y_0 - latents) / (1 - t_i)
        eta_t = eta if start <= i < stop else 0.0
        v_hat_t = v_t + eta_t * (v_t_cond - v_t)
        latents = latents + v_hat_t * (down[i] - down[i + 1])
    return latents


def exact_at_zero(v):
    return lambda x, sigma: -x if sigma == 0 else v(x, sigma)


@pytest.mark.parametrize("gamma, eta, start, stop", [(0.5, 0.9, 0, 7), (0.3, 1.0, 2, 12), (1.0, 0.0, 0, 0)])
def test_rf_inversion_matches_official_loops(gamma, eta, start, stop):
    y0 = source_points()
    y1 = torch.randn(y0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    v_src, v_tar = exact_at_zero(conditioned(SOURCE_MODE)), conditioned(TARGET_MODE)
    ours = rf_inversion(v_src, v_tar, y0, y1, SIGMAS, gamma, eta, start, stop)
    reference = official_rf_inversion(v_src, v_tar, y0, y1, SIGMAS, gamma, eta, start, stop)
    assert torch.allclose(ours, reference, atol=1e-12, rtol=0)


def test_rf_inversion_without_control_is_plain_euler_inversion_and_regeneration():
    """gamma = 0, eta = 0: Euler inversion then Euler sampling, as the pack's Euler solver does them."""
    y0 = source_points()
    v = exact_at_zero(lambda x, s: FLOW.velocity(x, s))
    ours = rf_inversion(v, v, y0, torch.zeros_like(y0), SIGMAS, gamma=0.0, eta=0.0)
    inverted = sample_flow_euler(FLOW.model, y0, SIGMAS.flip(0))
    regenerated = sample_flow_euler(FLOW.model, inverted, SIGMAS)
    assert torch.allclose(ours, regenerated, atol=1e-10, rtol=0)


def test_full_gains_reach_the_noise_and_the_image_exactly():
    """gamma = 1 follows the straight line to y1; eta = 1 on every step follows the straight line back to y0."""
    y0 = source_points()
    y1 = torch.randn(y0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    seen = []
    out = rf_inversion(conditioned(SOURCE_MODE), conditioned(TARGET_MODE), y0, y1, SIGMAS, gamma=1.0, eta=1.0,
                       stop_step=100, callback=lambda i, x, d, s: seen.append((i, x.clone())))
    assert torch.allclose(seen[19][1], y1, atol=1e-12)
    assert torch.allclose(out, y0, atol=1e-12)
    assert [i for i, _ in seen] == list(range(40))


def test_rf_inversion_edits_toward_the_target():
    y0 = source_points()
    y1 = torch.randn(y0.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    out = rf_inversion(exact_at_zero(conditioned(SOURCE_MODE)), conditioned(TARGET_MODE), y0, y1, SIGMAS,
                       gamma=0.5, eta=0.9, stop_step=5)
    assert (torch.cdist(out, FLOW.means).argmin(1) == TARGET_MODE).float().mean().item() >= 0.9


@pytest.mark.parametrize("options, name", [({"gamma": 1.5}, "gamma"), ({"eta": -0.1}, "eta"),
                                           ({"start_step": 5, "stop_step": 2}, "stop_step")])
def test_rf_inversion_rejects_bad_gains(options, name):
    y0 = source_points()
    with pytest.raises(ValueError, match=name):
        rf_inversion(conditioned(0), conditioned(1), y0, y0, SIGMAS, **options)
