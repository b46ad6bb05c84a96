"""Stateless guidance laws against hand computations on tiny tensors (float64)."""
import math

import pytest
import torch

from rectiflow.samplers import guidance as g

D = torch.float64


def t(*rows):
    return torch.tensor(rows, dtype=D)


def test_cfg_helper_and_per_sample_weight():
    v_c, v_u = t([1.0, 2.0], [1.0, 1.0]), t([0.0, 1.0], [0.0, 0.0])
    # v_u + 3 (v_c - v_u) = [0,1] + 3 [1,1] ; second row with w = 1 is v_c
    torch.testing.assert_close(g.cfg(v_c, v_u, 3.0), t([3.0, 4.0], [3.0, 3.0]), rtol=0, atol=0)
    torch.testing.assert_close(g.cfg(v_c, v_u, t(3.0, 1.0)), t([3.0, 4.0], [1.0, 1.0]), rtol=0, atol=0)


def test_conversions_round_trip_exactly():
    x, v = t([1.0, 2.0]), t([0.5, -1.5])
    x0 = g.velocity_to_x0(x, 0.5, v)
    assert torch.equal(x0, t([0.75, 2.75]))                 # x - 0.5 v
    assert torch.equal(g.x0_to_velocity(x, 0.5, x0), v)
    assert torch.equal(g.velocity_to_eps(x, 0.5, v), t([1.25, 1.25]))   # x + 0.5 v
    gen = torch.Generator().manual_seed(0)
    x, v = torch.randn(3, 2, 4, 4, dtype=D, generator=gen), torch.randn(3, 2, 4, 4, dtype=D, generator=gen)
    sigma = t(0.9, 0.3, 0.05)
    back = g.x0_to_velocity(x, sigma, g.velocity_to_x0(x, sigma, v))
    torch.testing.assert_close(back, v, rtol=0, atol=1e-12)


def test_raag_hand_computation_per_sample():
    # sample 0: |v_u| = 5, delta = [0, 2.5] -> r = 0.5, w = 1 + 4 exp(-2 * 0.5) = 1 + 4 / e
    # sample 1: delta = 0 -> r = 0, w = w_max = 5, v = v_u
    v_u = t([3.0, 4.0], [1.0, 0.0]).view(2, 1, 1, 2)
    v_c = t([3.0, 6.5], [1.0, 0.0]).view(2, 1, 1, 2)
    out = g.raag(v_c, v_u, w_max=5.0, alpha=2.0)
    w0 = 1 + 4 / math.e
    torch.testing.assert_close(out.ratio, t(0.5, 0.0))
    torch.testing.assert_close(out.weight, t(w0, 5.0))
    torch.testing.assert_close(out.v.view(2, 2), t([3.0, 4.0 + 2.5 * w0], [1.0, 0.0]))


def test_raag_ratio_over_the_batch_as_the_official_script():
    # same tensors as above: over the batch |v_u| = sqrt(25 + 1), |delta| = 2.5 -> one r for both samples
    v_u = t([3.0, 4.0], [1.0, 0.0]).view(2, 1, 1, 2)
    v_c = t([3.0, 6.5], [1.0, 0.0]).view(2, 1, 1, 2)
    out = g.raag(v_c, v_u, w_max=5.0, alpha=2.0, ratio_over="batch")
    r = 2.5 / math.sqrt(26.0)
    torch.testing.assert_close(out.ratio, t(r, r))
    torch.testing.assert_close(out.weight, t(1 + 4 * math.exp(-2 * r), 1 + 4 * math.exp(-2 * r)))
    one = g.raag(v_c[:1], v_u[:1], w_max=5.0, alpha=2.0, ratio_over="batch")
    torch.testing.assert_close(one.weight, g.raag(v_c[:1], v_u[:1], w_max=5.0, alpha=2.0).weight)
    with pytest.raises(ValueError, match="ratio_over"):
        g.RAAG(ratio_over="image")


def test_raag_alpha_zero_is_cfg_with_w_max_and_zero_uncond_is_guarded():
    gen = torch.Generator().manual_seed(1)
    v_c, v_u = torch.randn(2, 3, 4, dtype=D, generator=gen), torch.randn(2, 3, 4, dtype=D, generator=gen)
    out = g.raag(v_c, v_u, w_max=18.0, alpha=0.0)
    torch.testing.assert_close(out.v, v_u + 18.0 * (v_c - v_u), rtol=0, atol=1e-12)
    guarded = g.raag(v_c, torch.zeros_like(v_u), w_max=18.0, alpha=12.0)
    assert torch.isfinite(guarded.v).all() and torch.isfinite(guarded.ratio).all()
    torch.testing.assert_close(guarded.weight, torch.ones(2, dtype=D))      # huge ratio -> w = 1
    torch.testing.assert_close(guarded.v, v_c)


def test_cfg_zero_star_hand_computation_and_zero_init():
    # <v_c, v_u> = 3 + 1 = 4, |v_u|^2 = 2 -> s* = 2; v = [2,2] + 3 ([3,1] - [2,2]) = [5, -1]
    v_c, v_u = t([3.0, 1.0]), t([1.0, 1.0])
    out = g.cfg_zero_star(v_c, v_u, 1, w=3.0, zeroed_steps=1)
    torch.testing.assert_close(out.scale, t(2.0), rtol=0, atol=0)
    torch.testing.assert_close(out.v, t([5.0, -1.0]), rtol=0, atol=0)
    zeroed = g.cfg_zero_star(v_c, v_u, 0, w=3.0, zeroed_steps=1)
    assert torch.equal(zeroed.v, torch.zeros_like(v_c))


def test_cfg_zero_star_without_zero_init_and_unit_scale_is_cfg():
    gen = torch.Generator().manual_seed(2)
    v_c, v_u = torch.randn(2, 5, dtype=D, generator=gen), torch.randn(2, 5, dtype=D, generator=gen)
    out = g.cfg_zero_star(v_c, v_u, 0, w=4.5, zeroed_steps=0, optimized_scale=False)
    torch.testing.assert_close(out.v, v_u + 4.5 * (v_c - v_u), rtol=0, atol=1e-12)


def test_rescale_in_velocity_space():
    # v_c = [1,3]: std 1 ; cfg (w = 2) = [1,1] + 2 [0,2] = [1,5]: std 2 -> rescaled [0.5, 2.5]
    # phi = 0.5: 0.5 [0.5, 2.5] + 0.5 [1, 5] = [0.75, 3.75]
    v_c, v_u = t([1.0, 3.0]), t([1.0, 1.0])
    torch.testing.assert_close(g.rescale_cfg(v_c, v_u, w=2.0, phi=0.5), t([0.75, 3.75]))
    torch.testing.assert_close(g.rescale_cfg(v_c, v_u, w=2.0, phi=0.0), t([1.0, 5.0]))


def test_rescale_in_x0_space():
    # x = [2,2], sigma 0.5: x0_c = [1.5, 0.5] (std 0.5), x0_cfg = x - 0.5 [1,5] = [1.5, -0.5] (std 1)
    # phi = 1: x0 = 0.5 x0_cfg = [0.75, -0.25] -> v = (x - x0) / 0.5 = [2.5, 4.5]
    v_c, v_u, x = t([1.0, 3.0]), t([1.0, 1.0]), t([2.0, 2.0])
    out = g.rescale_cfg(v_c, v_u, w=2.0, phi=1.0, space="x0", x=x, sigma=0.5)
    torch.testing.assert_close(out, t([2.5, 4.5]))
    at_zero = g.rescale_cfg(v_c, v_u, w=2.0, phi=1.0, space="x0", x=x, sigma=0.0)
    torch.testing.assert_close(at_zero, t([1.0, 5.0]))      # sigma = 0: x0 = x, plain CFG kept


def test_limited_interval_weight_and_edm_conversion():
    assert g.interval_weight(4.0, 0.5, 0.2, 0.8) == 4.0
    assert g.interval_weight(4.0, 0.2, 0.2, 0.8) == 1.0       # (lo, hi]: lo excluded, as in the paper
    assert g.interval_weight(4.0, 0.8, 0.2, 0.8) == 4.0       # hi included
    assert g.interval_weight(4.0, 0.9, 0.2, 0.8) == 1.0
    assert g.interval_weight(4.0, 0.1, 0.2, 0.8) == 1.0
    v_c, v_u = t([2.0], [2.0], [2.0]), t([0.0], [0.0], [0.0])
    out = g.limited_interval_cfg(v_c, v_u, t(0.5, 0.9, 0.2), w=4.0, sigma_lo=0.2, sigma_hi=0.8)
    torch.testing.assert_close(out, t([8.0], [2.0], [2.0]))  # per sample: w = 4 inside, 1 outside and at lo
    assert g.edm_sigma_to_flow(1.0) == 0.5 and g.edm_sigma_to_flow(3.0) == 0.75
    assert g.edm_sigma_to_flow(math.inf) == 1.0


def test_weight_schedules_rise_as_noise_falls_and_keep_the_mean():
    assert g.scheduled_weight(3.0, 1.0, "linear") == 1.0
    assert g.scheduled_weight(3.0, 0.0, "linear") == 5.0
    assert g.scheduled_weight(3.0, 0.5, "linear") == 3.0
    assert math.isclose(g.scheduled_weight(3.0, 1.0, "cosine"), 1.0, abs_tol=1e-12)
    assert math.isclose(g.scheduled_weight(3.0, 0.25, "cosine"), 3.0 + math.sqrt(2.0))
    assert g.scheduled_weight(3.0, 0.3, "constant") == 3.0
    grid = torch.linspace(0, 1, 20001, dtype=D)
    for shape in ("linear", "cosine"):
        values = g.scheduled_weight(3.0, grid, shape)
        assert (values[1:] <= values[:-1] + 1e-12).all()          # decreasing in sigma
        assert math.isclose(torch.trapezoid(values, grid).item(), 3.0, rel_tol=1e-6)


def test_cfgpp_flow_euler_step():
    # v_lam = [0,2] + 0.5 [2,-2] = [1,1]; x0 = [1,2] - 0.5 [1,1] = [0.5, 1.5]; eps_u = x + 0.5 [0,2] = [1, 3]
    # x' = 0.75 x0 + 0.25 eps_u = [0.625, 1.875]
    x, v_c, v_u = t([1.0, 2.0]), t([2.0, 0.0]), t([0.0, 2.0])
    x0, eps = g.cfgpp_x0_eps(x, 0.5, v_c, v_u, lam=0.5)
    torch.testing.assert_close(x0, t([0.5, 1.5]), rtol=0, atol=0)
    torch.testing.assert_close(eps, t([1.0, 3.0]), rtol=0, atol=0)
    torch.testing.assert_close(g.cfgpp_euler_step(x, 0.5, 0.25, v_c, v_u, lam=0.5), t([0.625, 1.875]))
    torch.testing.assert_close(g.cfgpp_euler_step(x, 0.5, 0.0, v_c, v_u, lam=0.5), x0)
    # effective weight lam sigma (1 - sigma') / (sigma - sigma') = 0.5 * 0.5 * 0.75 / 0.25 = 0.75
    v_eff = g.cfgpp_velocity(0.5, 0.25, v_c, v_u, lam=0.5)
    torch.testing.assert_close(v_eff, t([1.5, 0.5]))
    torch.testing.assert_close(x + (0.25 - 0.5) * v_eff, t([0.625, 1.875]))


def test_std_rescale_blends_towards_the_reference_std():
    guided, reference = t([[2.0, -2.0]]), t([[1.0, -1.0]])
    # std(ref) / std(guided) = 0.5: phi 1 -> [1, -1], phi 0.5 -> 0.5 [1, -1] + 0.5 [2, -2]
    torch.testing.assert_close(g.std_rescale(guided, reference, 1.0), t([[1.0, -1.0]]))
    torch.testing.assert_close(g.std_rescale(guided, reference, 0.5), t([[1.5, -1.5]]))
    v_c, v_u = t([[1.0, -1.0]]), t([[0.5, 0.0]])
    torch.testing.assert_close(g.std_rescale(g.cfg(v_c, v_u, 3.0), v_c, 0.7), g.rescale_cfg(v_c, v_u, w=3.0, phi=0.7))


def test_cfg_zero_star_zeroed_steps_against_the_official_rule():
    """Official pipelines zero step i when i <= zero_steps (and use_zero_init): its K is our zeroed_steps K + 1."""
    for official_zero_steps in range(4):
        law = g.CFGZeroStar(4.0, zeroed_steps=official_zero_steps + 1)
        assert [law.zeroed(i) for i in range(8)] == [i <= official_zero_steps for i in range(8)]
    assert not any(g.CFGZeroStar(4.0, zeroed_steps=0).zeroed(i) for i in range(8))
