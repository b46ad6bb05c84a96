"""The marker for RectiFlow's own flow model samplings that are velocity flows but not CONST's x0 = x - sigma out."""
from __future__ import annotations

import comfy.model_sampling


class VelocityFlowSampling(comfy.model_sampling.CONST):
    """A CONST model sampling whose calculate_denoised returns x - sigma * v, with v = dx/dsigma the model's
    velocity, computed from the network output in its own way (PeRFlow: eps -> a velocity per time window).

    So ComfyUI's Euler, x + (x - x0_hat) / sigma * (sigma' - sigma) = x + v (sigma' - sigma), and every RectiFlow
    solver integrate the model's own flow. Subclasses keep CONST's noise scaling (sigma = 1 is pure noise) and must
    define calculate_denoised on a class derived from this one: comfy_compat.is_velocity_flow checks where it is
    defined.

    velocity_at_zero_is_minus_x: whether v(x, 0) = -x, the exact velocity at sigma 0 of CONST's flow
    x = (1 - sigma) x0 + sigma eps that RectiFlow's solvers use without a model call there (inversion from 0, the
    exact final stage). A flow with another interpolation (PeRFlow's windows) sets it False."""

    velocity_at_zero_is_minus_x: bool = True


def velocity_at_zero_is_minus_x(model_sampling) -> bool:
    """False for a VelocityFlowSampling whose velocity at sigma 0 is not CONST's -x (True for CONST itself)."""
    return bool(getattr(model_sampling, "velocity_at_zero_is_minus_x", True))
