"""Stateful guidance laws (SMC-CFG, APG, StreamDiffusion RCFG): hand computations and per-step state handling."""
import pytest
import torch

from rectiflow.samplers import guidance as g

D = torch.float64


def t(*rows):
    return torch.tensor(rows, dtype=D)


def random_pairs(n, seed, shape=(2, 3, 4)):
    gen = torch.Generator().manual_seed(seed)
    draw = lambda: torch.randn(*shape, dtype=D, generator=gen)    # noqa: E731
    return [(draw(), draw()) for _ in range(n)]


# ------------------------------------------------------------------ SMC-CFG

def test_smc_hand_computation_two_steps():
    state = g.SMCState()
    # step 0: e = [1,-1], prev = e, s = 5 e = [5,-5], e' = e - 0.2 sign(s) = [0.8,-0.8], v = 2 e'
    r0 = g.smc_cfg(t([1.0, -1.0]), t([0.0, 0.0]), 1.0, 0, state, w=2.0, lam=5.0, k=0.2, gain="absolute")
    torch.testing.assert_close(r0.v, t([1.6, -1.6]))
    torch.testing.assert_close(r0.surface, t([5.0, -5.0]))
    assert r0.previous_sign is None
    # step 1: e = [0.5,0.5], s = (e - [0.8,-0.8]) + 5 [0.8,-0.8] = [3.7,-2.7], e' = e - 0.2 [1,-1] = [0.3,0.7]
    r1 = g.smc_cfg(t([0.5, 0.5]), t([0.0, 0.0]), 0.5, 1, r0.state, w=2.0, lam=5.0, k=0.2, gain="absolute")
    torch.testing.assert_close(r1.surface, t([3.7, -2.7]))
    torch.testing.assert_close(r1.v, t([0.6, 1.4]))
    assert r1.previous_sign.tolist() == [[1, -1]]


def test_smc_relative_gain_is_the_absolute_law_with_k_times_the_rms_of_e():
    """Relative gain: K_abs = K * RMS(e) per sample and step, computed here from e independently."""
    pairs = random_pairs(3, seed=11)
    rel_state, abs_prev = g.SMCState(), None
    for i, (v_c, v_u) in enumerate(pairs):
        rel = g.smc_cfg(v_c, v_u, 1.0 - 0.3 * i, i, rel_state, w=4.0, k=0.5)
        e = v_c - v_u
        rms = e.reshape(e.shape[0], -1).pow(2).mean(dim=1).sqrt().view(-1, *([1] * (e.ndim - 1)))
        prev = e if abs_prev is None else abs_prev
        surface = (e - prev) + 5.0 * prev
        abs_prev = e - 0.5 * rms * torch.sign(surface)
        torch.testing.assert_close(rel.v, v_u + 4.0 * abs_prev)
        rel_state = rel.state


@pytest.mark.parametrize("gain, scale_free", [("relative", True), ("absolute", False)])
def test_smc_relative_gain_does_not_depend_on_the_velocity_scale(gain, scale_free):
    pairs = random_pairs(4, seed=12)
    outputs = {}
    for c in (1.0, 0.05):
        state, outs = g.SMCState(), []
        for i, (v_c, v_u) in enumerate(pairs):
            r = g.smc_cfg(c * v_c, c * v_u, 1.0 - 0.2 * i, i, state, w=7.0, k=0.2, gain=gain, switching="sat",
                          phi=0.5)
            outs.append(r.v / c)
            state = r.state
        outputs[c] = torch.stack(outs)
    assert torch.allclose(outputs[1.0], outputs[0.05], atol=1e-5) == scale_free


def test_smc_boundary_layer_saturates_inside_phi_units_of_rms():
    e = t([[0.1, -0.2, 0.3, -0.4]])        # RMS = sqrt(0.075)
    rms = 0.075 ** 0.5
    out = g.smc_cfg(e, torch.zeros_like(e), 1.0, 0, g.SMCState(), w=1.0, lam=1.0, k=0.5, switching="sat", phi=2.0)
    expected = e - 0.5 * rms * (e / (2.0 * rms)).clamp(-1.0, 1.0)     # s = lam e on the first step
    torch.testing.assert_close(out.v, expected)


def test_smc_with_zero_gain_is_plain_cfg_exactly():
    state = g.SMCState()
    for i, (v_c, v_u) in enumerate(random_pairs(4, seed=3)):
        out = g.smc_cfg(v_c, v_u, 1.0 - 0.2 * i, i, state, w=7.5, k=0.0)
        assert torch.equal(out.v, g.cfg(v_c, v_u, 7.5))
        state = out.state


def test_smc_state_advances_only_when_sigma_changes():
    (a_c, a_u), (b_c, b_u), (c_c, c_u), (d_c, d_u) = random_pairs(4, seed=4)
    s0 = g.smc_cfg(a_c, a_u, 1.0, 0, g.SMCState(), w=4.0).state
    first = g.smc_cfg(b_c, b_u, 0.5, 1, s0, w=4.0)
    again = g.smc_cfg(b_c, b_u, 0.5, 1, first.state, w=4.0)
    assert torch.equal(first.v, again.v)                       # same sigma: same output
    other = g.smc_cfg(c_c, c_u, 0.5, 1, again.state, w=4.0)    # another call within the step
    assert torch.equal(g.smc_cfg(b_c, b_u, 0.5, 1, other.state, w=4.0).v, first.v)
    # the latest call of the step is what the next step remembers
    after_two = g.smc_cfg(d_c, d_u, 0.25, 2, other.state, w=4.0)
    only_c = g.smc_cfg(c_c, c_u, 0.5, 1, s0, w=4.0)
    assert torch.equal(after_two.v, g.smc_cfg(d_c, d_u, 0.25, 2, only_c.state, w=4.0).v)
    assert not torch.equal(after_two.v, g.smc_cfg(d_c, d_u, 0.25, 2, first.state, w=4.0).v)


def test_smc_warmup_returns_conditional_and_keeps_state():
    (v_c, v_u), = random_pairs(1, seed=5)
    state = g.SMCState()
    out = g.smc_cfg(v_c, v_u, 1.0, 1, state, w=3.0, warmup_steps=2)
    assert out.v is v_c and out.state is state and out.surface is None
    active = g.smc_cfg(v_c, v_u, 0.8, 2, out.state, w=3.0, warmup_steps=2)
    assert active.surface is not None                          # first active step: prev = e, s = lam e
    torch.testing.assert_close(active.surface, 5.0 * (v_c - v_u))


def test_smooth_switching_approaches_sign_as_phi_shrinks():
    pairs = random_pairs(4, seed=6)
    outputs = {}
    for variant in ("sign", "tanh", "sat"):
        state, outs = g.SMCState(), []
        for i, (v_c, v_u) in enumerate(pairs):
            r = g.smc_cfg(v_c, v_u, 1.0 - 0.2 * i, i, state, w=5.0, switching=variant, phi=1e-12)
            outs.append(r.v)
            state = r.state
        outputs[variant] = outs
    for variant in ("tanh", "sat"):
        for ref, got in zip(outputs["sign"], outputs[variant]):
            torch.testing.assert_close(got, ref, rtol=0, atol=1e-9)
    s = t([0.05, -2.0])
    torch.testing.assert_close(g.smc_switch(s, "sat", 0.1), t([0.5, -1.0]))
    torch.testing.assert_close(g.smc_switch(s, "tanh", 0.1), torch.tanh(t([0.5, -20.0])))


def test_switching_activity():
    surface = t([0.05, -2.0, 3.0, -0.01])
    previous = torch.ones(1, 4, dtype=torch.int8)
    act = g.smc_switching_activity(surface, phi=0.1, previous_sign=previous)
    torch.testing.assert_close(act.boundary_fraction, t(0.5))   # |0.05|, |-0.01| < 0.1
    torch.testing.assert_close(act.flip_fraction, t(0.5))       # signs [1,-1,1,-1] vs all +1
    assert g.smc_switching_activity(surface).flip_fraction is None


# ------------------------------------------------------------------ APG

def test_apg_hand_computation_with_momentum_and_threshold():
    x = t([1.0, 1.0])
    # step 0, sigma 0.5: x0_c = [1,1], x0_u = x - 0.5 [2,0] = [0,1], D = [1,0]
    # parallel to [1,1]: [0.5,0.5], orthogonal [0.5,-0.5]; eta 0, w 3: x0 = [1,1] + 2 [0.5,-0.5] = [2,0]
    # v = (x - x0) / 0.5 = [-2, 2]
    v0, s0 = g.apg(t([0.0, 0.0]), t([2.0, 0.0]), x, 0.5, g.APGState(), w=3.0, momentum=-0.5)
    torch.testing.assert_close(v0, t([-2.0, 2.0]))
    # step 1, sigma 0.25: x0_u = x - 0.25 [4,0] = [0,1], D = [1,0] - 0.5 [1,0] = [0.5,0]
    # parallel [0.25,0.25], orthogonal [0.25,-0.25]: x0 = [1.5,0.5], v = [-0.5,0.5] / 0.25 = [-2, 2]
    v1, s1 = g.apg(t([0.0, 0.0]), t([4.0, 0.0]), x, 0.25, s0, w=3.0, momentum=-0.5)
    torch.testing.assert_close(v1, t([-2.0, 2.0]))
    v1_free, _ = g.apg(t([0.0, 0.0]), t([4.0, 0.0]), x, 0.25, s0, w=3.0, momentum=0.0)
    torch.testing.assert_close(v1_free, t([-4.0, 4.0]))      # without momentum: x0 = [2,0]
    # threshold r = 0.5 on step 0: D -> [0.5,0]: x0 = [1.5,0.5], v = [-1,1]; stored average stays [1,0]
    vr, sr = g.apg(t([0.0, 0.0]), t([2.0, 0.0]), x, 0.5, g.APGState(), w=3.0, norm_threshold=0.5)
    torch.testing.assert_close(vr, t([-1.0, 1.0]))
    torch.testing.assert_close(sr.latest, t([1.0, 0.0]))


def test_apg_reduces_to_cfg():
    x = torch.randn(2, 3, 4, dtype=D, generator=torch.Generator().manual_seed(7))
    state = g.APGState()
    for i, (v_c, v_u) in enumerate(random_pairs(3, seed=8)):
        sigma = 0.9 - 0.3 * i
        v, state = g.apg(v_c, v_u, x, sigma, state, w=5.0, momentum=0.0, norm_threshold=float("inf"), eta=1.0)
        torch.testing.assert_close(v, v_u + 5.0 * (v_c - v_u), rtol=0, atol=1e-10)


def test_apg_at_sigma_zero_returns_conditional():
    (v_c, v_u), = random_pairs(1, seed=9)
    v, _ = g.apg(v_c, v_u, torch.ones_like(v_c), 0.0, g.APGState(), w=5.0)
    assert torch.equal(v, v_c)


# ------------------------------------------------------------------ StreamDiffusion RCFG

def test_rcfg_self_negative_matches_eps_space_formula():
    state = g.RCFGState()
    v0, state = g.rcfg(t([1.0, 1.0]), t([1.0, 2.0]), 0.5, state, w=2.0)
    torch.testing.assert_close(v0, t([1.0, 1.0]))             # first step, no negative: v_c
    torch.testing.assert_close(state.latest, t([0.5, 1.5]))   # stored x0 = x - 0.5 v
    x, v_c, sigma = t([0.5, 1.0]), t([1.0, 2.0]), 0.25
    # the paper in eps space: eps_n = (x - (1 - s) x0_n) / s, eps_c = x + (1 - s) v_c,
    # eps = d eps_n + w (eps_c - d eps_n), v = (eps - x) / (1 - s)
    x0_n = t([0.5, 1.5])
    eps_n = (x - 0.75 * x0_n) / 0.25                             # [0.5, -0.5]
    eps_c = x + 0.75 * v_c                                       # [1.25, 2.5]
    for delta, expected in ((1.0, t([2.0, 6.0])), (0.5, t([7 / 3, 17 / 3]))):
        eps = delta * eps_n + 2.0 * (eps_c - delta * eps_n)
        torch.testing.assert_close((eps - x) / 0.75, expected)
        v1, s1 = g.rcfg(v_c, x, sigma, state, w=2.0, delta=delta)
        torch.testing.assert_close(v1, expected)
        torch.testing.assert_close(s1.latest, x - sigma * expected)


def test_rcfg_onetime_negative_is_computed_once_and_reused():
    state = g.RCFGState()
    # step 0: real CFG, v = [0,2] + 2 ([1,1] - [0,2]) = [2,0]; negative x0 = x - 0.5 v_u = [1,1]
    v0, state = g.rcfg(t([1.0, 1.0]), t([1.0, 2.0]), 0.5, state, w=2.0, mode="onetime", v_uncond=t([0.0, 2.0]))
    torch.testing.assert_close(v0, t([2.0, 0.0]))
    # step 1: v_n = (x - [1,1]) / 0.25 = [-2, 0]; v = [-2,0] + 2 ([1,2] - [-2,0]) = [4,4]
    v1, state = g.rcfg(t([1.0, 2.0]), t([0.5, 1.0]), 0.25, state, w=2.0, mode="onetime")
    torch.testing.assert_close(v1, t([4.0, 4.0]))
    # step 2: the negative is still [1,1]: v_n = ([0.25,0.5] - 1) / 0.125 = [-6,-4]; v = [-6,-4] + 2 [6,4]
    v2, state = g.rcfg(t([0.0, 0.0]), t([0.25, 0.5]), 0.125, state, w=2.0, mode="onetime")
    torch.testing.assert_close(v2, t([6.0, 4.0]))


def test_guidance_state_container_starts_empty():
    state = g.GuidanceState()
    assert state.smc.committed is None and state.apg.committed is None and state.rcfg.committed is None
    (v_c, v_u), = random_pairs(1, seed=10)
    smc = g.smc_cfg(v_c, v_u, 1.0, 0, state.smc, w=4.0).state
    state2 = g.GuidanceState(smc=smc, apg=state.apg, rcfg=state.rcfg)
    assert state2.smc.latest is not None and state.smc.latest is None   # states are values, never mutated


def test_per_sample_sigma_tensor_matches_row_by_row():
    (v_c, v_u), = random_pairs(1, seed=12)
    x = torch.randn(2, 3, 4, dtype=D, generator=torch.Generator().manual_seed(13))
    sigma = t(0.5, 0.5)
    v, _ = g.apg(v_c, v_u, x, sigma, g.APGState(), w=3.0, eta=0.5)
    rows = [g.apg(v_c[i:i + 1], v_u[i:i + 1], x[i:i + 1], 0.5, g.APGState(), w=3.0, eta=0.5)[0] for i in range(2)]
    torch.testing.assert_close(v, torch.cat(rows), rtol=0, atol=1e-12)
    r, _ = g.rcfg(v_c, x, t(0.8, 0.4), g.RCFGState(), w=2.0, v_uncond=v_u, delta=0.5)
    rows = [g.rcfg(v_c[i:i + 1], x[i:i + 1], s, g.RCFGState(), w=2.0, v_uncond=v_u[i:i + 1], delta=0.5)[0]
            for i, s in enumerate((0.8, 0.4))]
    torch.testing.assert_close(r, torch.cat(rows), rtol=0, atol=1e-12)
