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
    ("cfg_zero zero_init", lambda: g.cfg_zero_star(V, V, 0, w=2.0, zeroed_steps=-1), "zeroed_steps"),
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
        g.SMC(4.0, -0.1, 0.2)
    with pytest.raises(ValueError, match=r"momentum must be a finite number in \(-1, 1\)"):
        g.APG(4.0, -1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match=r"phi must be a finite number in \[0, 1\]"):
        g.Rescale(phi=math.nan)


def test_laws_accept_paper_defaults():
    g.RAAG(18.0, 12.0)
    g.RAAG(10.0, 8.0)
    g.SMC(7.5, 5.0, 0.2, 2, "sat", 0.1)
    g.CFGZeroStar(4.0, 1)
    g.APG(7.5, -0.5, INF, 0.0)
    g.CFGPP(0.6)
    g.RectifiedCFGPP(3.5, 0.5)
    g.CFGMP(4.0, 0.5, 3, 1, 1.0, 1e-4, 1e-6, 0.95)
    g.LimitedInterval(4.0, 0.2, 0.85)
    g.Rescale(4.0, 0.7, "x0")
    g.WeightSchedule(4.0, "cosine")
    g.ResidualCFG(1.4, "onetime", 1.0)


LAW_CASES = [
    ("RAAG eps", lambda: g.RAAG(eps=-1.0), "eps"),
    ("SMC switching", lambda: g.SMC(switching="bang"), "switching"),
    ("CFGZeroStar w", lambda: g.CFGZeroStar(w=INF), "w"),
    ("APG eta", lambda: g.APG(eta=NAN), "eta"),
    ("CFGPP lam", lambda: g.CFGPP(-0.1), "lam"),
    ("RectifiedCFGPP fraction", lambda: g.RectifiedCFGPP(2.0, 1.5), "predictor_fraction"),
    ("CFGMP h_operator_sigma", lambda: g.CFGMP(h_operator_sigma=-0.5), "h_operator_sigma"),
    ("LimitedInterval order", lambda: g.LimitedInterval(4.0, 0.8, 0.2), "sigma_lo"),
    ("Rescale space", lambda: g.Rescale(space="eps"), "space"),
    ("WeightSchedule shape", lambda: g.WeightSchedule(shape="exp"), "shape"),
    ("ResidualCFG delta", lambda: g.ResidualCFG(delta=NAN), "delta"),
]


@pytest.mark.parametrize("build, name", [c[1:] for c in LAW_CASES], ids=[c[0] for c in LAW_CASES])
def test_building_a_law_checks_its_parameters(build, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        build()


def test_per_call_cores_never_validate(monkeypatch):
    """Laws check parameters once, when built: their per-call methods call no check (no host copies per call)."""
    import importlib
    import pkgutil

    from rectiflow.samplers.guidance import validation

    laws = [g.RAAG(), g.SMC(), g.CFGZeroStar(), g.APG(norm_threshold=1.0), g.LimitedInterval(), g.Rescale(space="x0"),
            g.WeightSchedule(shape="cosine"), g.CFGPP(), g.ResidualCFG(delta=0.5), g.RectifiedCFGPP(), g.CFGMP()]
    calls = []
    checks = {name: getattr(validation, name) for name in dir(validation)
              if name.startswith(("check_", "validate_", "scalar_"))}
    for info in pkgutil.iter_modules(g.__path__, g.__name__ + "."):
        module = importlib.import_module(info.name)
        for name, check in checks.items():
            if getattr(module, name, None) is check:
                monkeypatch.setattr(module, name, lambda *a, _name=name, **k: calls.append(_name))
    gen = torch.Generator().manual_seed(3)
    x, v_c, v_u = (torch.randn(2, 3, 4, generator=gen) for _ in range(3))
    sigma = torch.tensor([0.6, 0.6])
    fields = (lambda z, s: z + s), (lambda z, s: 0.5 * z)
    raag, smc, zero, apg, interval, rescale, schedule, cfgpp, rcfg, rectified, mp = laws
    raag.guide(v_c, v_u).v
    smc.activity(smc.guide(v_c, v_u, 0.6, 0, g.SMCState()))
    zero.guide(v_c, v_u, 2).v
    apg.guide(v_c, v_u, x, sigma, g.APGState(), 0.6)[0].v
    interval.weight_at(sigma), schedule.weight_at(sigma), cfgpp.step_weight(0.6, 0.4)
    rescale.rescale(g.cfg(v_c, v_u, 3.0), v_c, x, sigma)
    rcfg.guide(v_c, x, sigma, g.RCFGState(), 0.6, v_u)
    rectified.step(lambda z, s: (z + s, 0.5 * z), x, 0.6, 0.4)
    mp.step(*fields, x, 0.6, 0.4)
    assert calls == []


@pytest.mark.parametrize("build", [lambda: g.SMC(switching="\ud800"), lambda: g.RAAG(alpha="\u00e9"),
                                   lambda: g.CFGZeroStar(zeroed_steps="\ud800")], ids=["choice", "real", "int"])
def test_messages_quote_values_in_ascii(build):
    """ComfyUI's prompt worker dies logging a message it cannot encode (a lone surrogate): quote with ascii()."""
    with pytest.raises(ValueError) as info:
        build()
    str(info.value).encode("ascii")
