"""Multi-evaluation guidance steps (Rectified-CFG++, CFG-MP / MP+) with analytic velocity fields."""
import torch

from rectiflow.samplers import guidance as g

D = torch.float64


def t(*rows):
    return torch.tensor(rows, dtype=D)


def affine_fields(calls):
    """v_c = z + 1, v_u = 0.5 z (elementwise), recording (which, sigma) per call."""
    def cond(z, sigma):
        calls.append(("c", sigma))
        return z + 1
    def uncond(z, sigma):
        calls.append(("u", sigma))
        return 0.5 * z
    return cond, uncond


def test_rectified_cfgpp_step_hand_computation():
    calls = []
    def model_fn(x, sigma):
        calls.append(sigma)
        return x + sigma, 2 * x
    x = t([1.0])
    # v_c(x, 1) = 2; half step: sigma_p = 0.75, x_p = 1 - 0.25 * 2 = 0.5
    # corrector: v = 2 + 2 (v_c(x_p) - v_u(x_p)) = 2 + 2 (1.25 - 1) = 2.5; x' = 1 - 0.5 * 2.5 = -0.25
    out = g.rectified_cfgpp_step(model_fn, x, 1.0, 0.5, w=2.0)
    torch.testing.assert_close(out, t([-0.25]))
    assert calls == [1.0, 0.75]
    # full predictor step: x_p = 0, v = 2 + 2 (0.5 - 0) = 3, x' = 1 - 1.5
    torch.testing.assert_close(g.rectified_cfgpp_step(model_fn, x, 1.0, 0.5, w=2.0, predictor_fraction=1.0), t([-0.5]))
    # w = 0: conditional Euler step
    torch.testing.assert_close(g.rectified_cfgpp_step(model_fn, x, 1.0, 0.5, w=0.0), t([0.0]))


def test_cfg_mp_operators():
    cond, uncond = affine_fields([])
    z, h = t([2.0]), -0.25
    # G: z_t = z - h 0.5 z = 2.25; G = z_t + h (z_t + 1) = 2.25 - 0.8125 = 1.4375
    torch.testing.assert_close(g.cfg_mp_operator(cond, uncond, z, 0.8, h, "G"), t([1.4375]))
    # H: z_t = z + h (z + 1) = 1.25; H = z_t - h 0.5 z_t = 1.25 + 0.15625 = 1.40625
    torch.testing.assert_close(g.cfg_mp_operator(cond, uncond, z, 0.8, h, "H"), t([1.40625]))


def test_cfg_mp_picard_iterations():
    calls = []
    cond, uncond = affine_fields(calls)
    # G(z) = 0.84375 z - 0.25: z1 = 1.4375, z2 = 0.84375 * 1.4375 - 0.25 = 0.962890625
    proj = g.cfg_mp_project(cond, uncond, t([2.0]), 0.8, 0.3, iterations=2, anderson_window=0)
    torch.testing.assert_close(proj.z, t([0.962890625]))
    assert proj.iterations == 2 and len(calls) == 4 and {s for _, s in calls} == {0.8}


def test_cfg_mp_plus_anderson_solves_an_affine_fixed_point_in_two_iterations():
    # G(z) = a z + b with a = 0.84375, b = -0.25 is a scalar multiple of identity, so AA(1) is exact
    # after two evaluations: z* = b / (1 - a) = -1.6, while Picard is still far away.
    cond, uncond = affine_fields([])
    x = torch.randn(2, 3, dtype=D, generator=torch.Generator().manual_seed(11))
    aa = g.cfg_mp_project(cond, uncond, x, 0.8, 0.3, iterations=2, anderson_window=1, ridge=0.0, damping=1.0)
    torch.testing.assert_close(aa.z, torch.full_like(x, -1.6), rtol=0, atol=1e-10)
    picard = g.cfg_mp_project(cond, uncond, x, 0.8, 0.3, iterations=2, anderson_window=0)
    assert (picard.z + 1.6).abs().max() > 0.1


def test_anderson_mix_single_entry_is_damped_picard():
    x, f = t([1.0, 2.0]), t([0.5, -1.0])
    torch.testing.assert_close(g.anderson_mix([x], [f], damping=0.5), t([1.25, 1.5]))


def test_cfg_mp_stops_when_already_projected():
    zero = lambda z, sigma: torch.zeros_like(z)    # noqa: E731
    proj = g.cfg_mp_project(zero, zero, t([1.0, 2.0]), 0.9, 0.6, iterations=3)
    assert proj.iterations == 1 and proj.residual == 0.0


def test_cfg_mp_step():
    calls = []
    cond, uncond = affine_fields(calls)
    x = t([2.0])
    # one Picard projection: z = 1.4375; CFG at z: 0.5 z + 2 (0.5 z + 1) = 1.5 z + 2 = 4.15625
    # x' = z + (0.3 - 0.8) 4.15625 = -0.640625
    out = g.cfg_mp_step(cond, uncond, x, 0.8, 0.3, w=2.0, iterations=1, anderson_window=0)
    torch.testing.assert_close(out, t([-0.640625]))
    assert len(calls) == 4
    # below the switching sigma: plain CFG Euler step, 2 calls: 2 + (0.2 - 0.4)(1.5 * 2 + 2) = 1
    calls.clear()
    torch.testing.assert_close(g.cfg_mp_step(cond, uncond, x, 0.4, 0.2, w=2.0), t([1.0]))
    assert len(calls) == 2


def test_rectified_cfgpp_predictor_can_use_a_cond_only_call():
    pairs, conds = [], []
    def model_fn(x, sigma):
        pairs.append(sigma)
        return x + sigma, 2 * x
    def cond_fn(x, sigma):
        conds.append(sigma)
        return x + sigma
    x = t([1.0])
    out = g.rectified_cfgpp_step(model_fn, x, 1.0, 0.5, w=2.0, cond_fn=cond_fn)
    torch.testing.assert_close(out, g.rectified_cfgpp_step(lambda y, s: (y + s, 2 * y), x, 1.0, 0.5, w=2.0))
    assert conds == [1.0] and pairs == [0.75]


def paper_rectified_cfgpp(v_cond, v_uncond, x, sigmas, w):
    """Rectified-CFG++ (arXiv 2510.07631, Alg. 1) at predictor fraction 1 with exact velocities: predictor
    x_p = x + dt v_c(x, t), corrector v = v_c(x, t) + w (v_c(x_p, t + dt) - v_u(x_p, t + dt)), x' = x + dt v."""
    for sigma, sigma_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        dt = sigma_next - sigma
        v = v_cond(x, sigma)
        x_p = x + dt * v
        x = x + dt * (v + w * (v_cond(x_p, sigma_next) - v_uncond(x_p, sigma_next)))
    return x


def test_rectified_cfgpp_at_predictor_fraction_one_reaches_sigma_zero_like_the_paper():
    """The last predictor lands on sigma 0, where a velocity read from x0 is 0/0; the law uses the exact -x there."""
    from rectiflow.models.analytic_flows import GaussianMixtureFlow

    flow = GaussianMixtureFlow([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.0]], std=0.3)
    cond_weights = torch.tensor([[4.0, 0.0, 0.0]], dtype=D).log().clamp_min(-30).expand(6, 3)
    v_cond = lambda y, s: flow.velocity(y, s, cond_weights)  # noqa: E731
    v_uncond = lambda y, s: flow.velocity(y, s)  # noqa: E731

    def through_x0(y, s):   # how the ComfyUI adapter reads velocities: v = (y - x0_hat) / sigma
        return tuple((y - (y - s * v(y, s))) / s for v in (v_cond, v_uncond))

    x = torch.randn(6, 2, dtype=D, generator=torch.Generator().manual_seed(3))
    sigmas = torch.linspace(1, 0, 7, dtype=D)
    law = g.RectifiedCFGPP(w=2.0, predictor_fraction=1.0)
    ours = x
    for sigma, sigma_next in zip(sigmas[:-1].tolist(), sigmas[1:].tolist()):
        ours = law.step(through_x0, ours, sigma, sigma_next)
    expected = paper_rectified_cfgpp(v_cond, v_uncond, x, sigmas, 2.0)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, expected, rtol=1e-12, atol=1e-12)
