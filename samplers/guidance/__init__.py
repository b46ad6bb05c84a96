"""Guidance laws for rectified flows, in velocity space (pure torch, never imports comfy); one law per module.

Convention (docs/design.md, section "Time convention"): x_sigma = (1 - sigma) x0 + sigma eps, v = eps - x0.
Laws take velocities v, not ComfyUI's sigma * v (`sampler_cfg_function` hands x - x0_hat = sigma v: divide by
sigma first).

Each law is a frozen dataclass whose constructor checks its parameters (ValueError naming the parameter) and
whose methods are the unchecked per-call cores; the lower-case functions (raag, smc_cfg, ...) are one-off
forms that check everything and delegate to them. Laws that combine cond and uncond hand back CFGTerms
(v_cond, v_uncond, w), so a caller can give them to plain CFG or to a sampler's own combination.
Stateful laws (SMC-CFG, APG, RCFG) take and return explicit step memory (see memory.py).
"""
from .apg import APG, apg
from .cfg_mp import CFGMP, MPProjection, anderson_mix, cfg_mp_operator, cfg_mp_project, cfg_mp_step
from .cfg_zero_star import CFGZeroResult, CFGZeroStar, cfg_zero_star
from .cfgpp import CFGPP, cfgpp_euler_step, cfgpp_velocity, cfgpp_x0_eps
from .common import (CFGTerms, ModelFn, SigmaLike, VelocityFn, cfg, cfg_terms, per_sample_norm, per_sample_std,
                     unguided, velocity_to_eps, velocity_to_x0, x0_to_velocity)
from .interval import EDM_INTERVAL, LimitedInterval, edm_sigma_to_flow, interval_weight, limited_interval_cfg
from .memory import APGState, GuidanceState, RCFGState, SMCState, StepMemory
from .raag import RATIO_SCOPES, RAAG, RAAGResult, raag
from .rcfg import RCFG_MODES, ResidualCFG, rcfg
from .rectified_cfgpp import RectifiedCFGPP, rectified_cfgpp_step
from .rescale import RESCALE_SPACES, Rescale, blend_std, rescale_cfg, std_rescale
from .schedule import SCHEDULE_SHAPES, WeightSchedule, scheduled_weight
from .smc import (GAIN_MODES, RELATIVE_K, SMC, SWITCHING_VARIANTS, SMCMemory, SMCResult, Switching,
                  SwitchingActivity, smc_cfg, smc_switch, smc_switching_activity, switching_activity)
from .validation import validate_sigma, validate_step, validate_weight

__all__ = [
    "APG", "APGState", "CFGMP", "CFGPP", "CFGTerms", "CFGZeroResult", "CFGZeroStar", "EDM_INTERVAL", "GuidanceState",
    "LimitedInterval", "MPProjection", "ModelFn", "RATIO_SCOPES", "RAAG", "RAAGResult", "RCFGState", "RCFG_MODES",
    "GAIN_MODES", "RELATIVE_K", "RESCALE_SPACES", "RectifiedCFGPP", "Rescale", "ResidualCFG", "SCHEDULE_SHAPES", "SMC", "SMCMemory",
    "SMCResult", "SMCState",
    "SWITCHING_VARIANTS", "SigmaLike", "StepMemory", "Switching", "SwitchingActivity", "VelocityFn", "WeightSchedule",
    "anderson_mix", "apg", "blend_std", "cfg", "cfg_mp_operator", "cfg_mp_project", "cfg_mp_step", "cfg_terms",
    "cfg_zero_star", "cfgpp_euler_step", "cfgpp_velocity", "cfgpp_x0_eps", "edm_sigma_to_flow", "interval_weight",
    "limited_interval_cfg", "per_sample_norm", "per_sample_std", "raag", "rcfg", "rectified_cfgpp_step",
    "rescale_cfg", "scheduled_weight", "smc_cfg", "smc_switch", "smc_switching_activity", "std_rescale",
    "switching_activity", "unguided", "validate_sigma", "validate_step", "validate_weight", "velocity_to_eps",
    "velocity_to_x0", "x0_to_velocity",
]
