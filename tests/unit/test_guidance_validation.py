"""Bad guidance parameters raise ValueError naming the parameter and its expected range."""
import math

import pytest
import torch

from rectiflow.samplers import guidance as g

V = torch.ones(1, 2)
NAN, INF = float("nan"), float("inf")


def model_fn(x, sigma):
    return x, x


CASES = [
    ("cfg_zero negative w", lambda: g.cfg_zero_star(V, V, 0, w=-1.0), "w"),
    ("cfg_zero NaN w", lambda: g.cfg_zero_star(V, V, 0, w=NAN), "w"),
    ("cfg_zero bool w", lambda: g.cfg_zero_star(V, V, 0, w=True), "w"),
    ("cfg_zero zero_init", lambda: g.cfg_zero_star(V, V, 0, w=2.0, zero_init_steps=-1), "zero_init_steps"),
    ("cfg_zero step", lambda: g.cfg_zero_star(V, V, -1, w=2.0), "step"),
    ("raag alpha", lambda: g.raag(V, V, alpha=-1.0), "alpha"),
    ("raag w_max NaN", lambda: g.raag(V, V, w_max=NAN), "w_max"),
    ("raag w_max inf", lambda: g.raag(V, V, w_max=INF), "w_max"),
    ("raag eps", lambda: g.raag(V, V, eps=0.0), "eps"),
    ("smc lam", lambda: g.smc_cfg(V, V, 1.0, 0, g.SMCState(), w=4.0, lam=-0.1), "lam"),
    ("smc lam NaN", lambda: g.smc_cfg(V, V, 1.0, 0, g.SMCState(), w=4.0, lam=NAN), "lam"),
    ("smc k", lambda: g.smc_cfg(V, V, 1.0, 0, g.SMCState(), w=4.0, k=-0.2), "k"),
    ("smc w", lambda: g.smc_cfg(V, V, 1.0, 0, g.SMCState(), w=-4.0), "w"),
    ("smc warmup", lambda: g.smc_cfg(V, V, 1.0, 0, g.SMCState(), w=4.0, warmup_steps=1.5), "warmup_steps"),
    ("smc switching", lambda: g.smc_cfg(V, V, 1.0, 0, g.SMCState(), w=4.0, switching="bang"), "switching"),
    ("smc phi", lambda: g.smc_cfg(V, V, 1.0, 0, g.SMCState(), w=4.0, switching="tanh", phi=0.0), "phi"),
    ("apg momentum", lambda: g.apg(V, V, V, 0.5, g.APGState(), w=4.0, momentum=1.0), "momentum"),
    ("apg threshold", lambda: g.apg(V, V, V, 0.5, g.APGState(), w=4.0, norm_threshold=-1.0), "norm_threshold"),
    ("apg eta", lambda: g.apg(V, V, V, 0.5, g.APGState(), w=4.0, eta=INF), "eta"),
    ("apg sigma", lambda: g.apg(V, V, V, 1.5, g.APGState(), w=4.0), "sigma"),
    ("cfgpp lam", lambda: g.cfgpp_x0_eps(V, 0.5, V, V, lam=1.5), "lam"),
    ("cfgpp same sigma", lambda: g.cfgpp_velocity(0.5, 0.5, V, V, lam=0.5), "sigma_next"),
    ("rectified w", lambda: g.rectified_cfgpp_step(model_fn, V, 1.0, 0.5, w=-1.0), "w"),
    ("rectified fraction", lambda: g.rectified_cfgpp_step(model_fn, V, 1.0, 0.5, w=2.0, predictor_fraction=0.0),
     "predictor_fraction"),
    ("rectified sigma_next", lambda: g.rectified_cfgpp_step(model_fn, V, 1.0, -0.5, w=2.0), "sigma_next"),
    ("cfg_mp damping", lambda: g.cfg_mp_step(model_fn, model_fn, V, 0.9, 0.5, w=2.0, damping=0.0), "damping"),
    ("cfg_mp iterations", lambda: g.cfg_mp_step(model_fn, model_fn, V, 0.9, 0.5, w=2.0, iterations=-1), "iterations"),
    ("cfg_mp window", lambda: g.cfg_mp_step(model_fn, model_fn, V, 0.9, 0.5, w=2.0, anderson_window=-1),
     "anderson_window"),
    ("cfg_mp switch", lambda: g.cfg_mp_step(model_fn, model_fn, V, 0.9, 0.5, w=2.0, switch_sigma=2.0), "switch_sigma"),
    ("interval order", lambda: g.interval_weight(4.0, 0.5, 0.8, 0.2), "sigma_lo"),
    ("interval hi", lambda: g.interval_weight(4.0, 0.5, 0.2, 1.5), "sigma_hi"),
    ("interval w", lambda: g.interval_weight(-4.0, 0.5, 0.2, 0.8), "w"),
    ("rescale phi", lambda: g.rescale_cfg(V, V, w=4.0, phi=1.2), "phi"),
    ("rescale space", lambda: g.rescale_cfg(V, V, w=4.0, space="eps"), "space"),
    ("schedule shape", lambda: g.scheduled_weight(4.0, 0.5, "exp"), "shape"),
    ("schedule sigma", lambda: g.scheduled_weight(4.0, NAN), "sigma"),
    ("rcfg mode", lambda: g.rcfg(V, V, 0.5, g.RCFGState(), w=2.0, mode="both"), "mode"),
    ("rcfg delta", lambda: g.rcfg(V, V, 0.5, g.RCFGState(), w=2.0, delta=-1.0), "delta"),
    ("rcfg onetime needs uncond", lambda: g.rcfg(V, V, 0.5, g.RCFGState(), w=2.0, mode="onetime"), "v_uncond"),
    ("shape mismatch", lambda: g.cfg_zero_star(V, torch.ones(1, 3), 0, w=2.0), "v_cond"),
    ("weight tensor", lambda: g.validate_weight(torch.tensor([1.0, -1.0])), "w"),
]


@pytest.mark.parametrize("call, name", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_parameter_raises_naming_it(call, name):
    with pytest.raises(ValueError, match=rf"^{name}\b") as info:
        call()
    message = str(info.value)
    assert "must" in message or "required" in message, message


def test_messages_state_the_expected_range():
    with pytest.raises(ValueError, match=r"lam must be a finite number in \[0, inf\), got -0.1"):
        g.validate_smc(4.0, -0.1, 0.2)
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \(-1, 1\)"):
        g.validate_apg(4.0, -1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"phi must be a finite number in \[0, 1\]"):
        g.validate_rescale(math.nan)


def test_validators_accept_paper_defaults():
    g.validate_raag(18.0, 12.0)
    g.validate_raag(10.0, 8.0)
    g.validate_smc(7.5, 5.0, 0.2, 2, "sat", 0.1)
    g.validate_cfg_zero(4.0, 1)
    g.validate_apg(7.5, -0.5, INF, 0.0)
    g.validate_cfgpp(0.6)
    g.validate_rectified_cfgpp(3.5, 0.5)
    g.validate_cfg_mp(3, 1, 1.0, 1e-4, 1e-6, 0.5, 0.95)
    g.validate_interval(0.2, 0.85)
    g.validate_rescale(0.7, "x0")
    g.validate_schedule(4.0, "cosine")
    g.validate_rcfg(1.4, "onetime", 1.0)
