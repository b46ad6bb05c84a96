"""Rectified-CFG++: a conditional predictor, guidance at the predicted point (arXiv 2510.07631)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from .common import ModelFn, VelocityFn
from .validation import check_real, scalar_sigma, validate_weight


@dataclass(frozen=True)
class RectifiedCFGPP:
    """Rectified-CFG++ parameters, checked when built. w is the official code's `true_cfg` (v = v_c + w (v_c' - v_u'),
    CFG-equivalent 1 + w; its demo's 4.5 is the default). predictor_fraction f = 0.5 is the paper's half step; the
    official SD3 code steps the full dt (f = 1), feeds the corrector the timestep t + dt with t on the 0-1000 scale
    and dt on the 0-1 scale (so practically the start time), and adds N(0, 0.005^2) noise to the predicted point
    while t > 0.1; here the corrector runs at the predicted sigma and no noise is added (sampling stays
    deterministic). The paper's time schedule of w is not reproduced: build one law per w."""
    w: float = 4.5
    predictor_fraction: float = 0.5

    def __post_init__(self):
        validate_weight(self.w)
        check_real("predictor_fraction", self.predictor_fraction, 0.0, 1.0, lo_open=True)

    def step(self, model_fn: ModelFn, x: Tensor, sigma: float, sigma_next: float,
             cond_fn: VelocityFn | None = None) -> Tensor:
        """Predictor-corrector step, model_fn(x, sigma) -> (v_c, v_u): predictor x_p = x + f (sigma' - sigma)
        v_c(x, sigma) at sigma_p = sigma + f (sigma' - sigma); corrector v = v_c(x, sigma) + w (v_c(x_p, sigma_p)
        - v_u(x_p, sigma_p)); x' = x + (sigma' - sigma) v. Costs two (cond, uncond) model calls, or one cond call
        plus one pair when `cond_fn` (x, sigma) -> v_c is given. A predictor that lands on sigma 0 (f = 1 on the
        last step) costs no call: v_c = v_u = -x_p there, so v = v_c(x, sigma)."""
        v_cond = cond_fn(x, sigma) if cond_fn is not None else model_fn(x, sigma)[0]
        sigma_p = sigma + self.predictor_fraction * (sigma_next - sigma)
        if sigma_p == 0:
            # At sigma 0 both velocities are exactly -x_p (docs/design.md section 1): the guidance term vanishes,
            # and no model call is made (the model's x0 at sigma 0 gives 0/0).
            return x + (sigma_next - sigma) * v_cond
        x_p = x + (sigma_p - sigma) * v_cond
        v_cond_p, v_uncond_p = model_fn(x_p, sigma_p)
        return x + (sigma_next - sigma) * (v_cond + self.w * (v_cond_p - v_uncond_p))


def rectified_cfgpp_step(model_fn: ModelFn, x: Tensor, sigma: float, sigma_next: float, *, w: float,
                         predictor_fraction: float = 0.5, cond_fn: VelocityFn | None = None) -> Tensor:
    """Rectified-CFG++ (arXiv 2510.07631) step with its parameters and sigmas checked: see RectifiedCFGPP.step."""
    law = RectifiedCFGPP(w, predictor_fraction)
    return law.step(model_fn, x, scalar_sigma(sigma, "sigma"), scalar_sigma(sigma_next, "sigma_next"), cond_fn)
