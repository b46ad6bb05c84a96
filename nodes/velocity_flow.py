"""The marker for RectiFlow's own flow model samplings that are velocity flows but not CONST's x0 = x - sigma out."""
from __future__ import annotations

import comfy.model_sampling


class VelocityFlowSampling(comfy.model_sampling.CONST):
    """A CONST model sampling whose calculate_denoised returns x - sigma * v, with v = dx/dsigma the model's
    velocity, computed from the network output in its own way (PeRFlow: eps -> a velocity per time window).

    So ComfyUI's Euler, x + (x - x0_hat) / sigma * (sigma' - sigma) = x + v (sigma' - sigma), and every RectiFlow
    solver integrate the model's own flow. Subclasses keep CONST's noise scaling (sigma = 1 is pure noise) and must
    define calculate_denoised on a class derived from this one: comfy_compat.is_velocity_flow checks where it is
    defined."""
