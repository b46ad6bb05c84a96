"""CFG++ for flows: guided x0, unconditional renoising (arXiv 2406.08070)."""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from .common import SigmaLike, cfg, per_sample, velocity_to_eps, velocity_to_x0
from .validation import check_pair, check_real, scalar_sigma, validate_sigma


@dataclass(frozen=True)
class CFGPP:
    """CFG++ parameter lam in [0, 1] (the paper's range), checked when built."""
    lam: float = 0.6

    def __post_init__(self):
        check_real("lam", self.lam, 0.0, 1.0)

    def x0_eps(self, x: Tensor, sigma: SigmaLike, v_cond: Tensor, v_uncond: Tensor) -> tuple[Tensor, Tensor]:
        """Alg. 1 for flows: x0_lam = x0_u + lam (x0_c - x0_u) = x - sigma (v_u + lam (v_c - v_u)) and
        eps_u = x + (1 - sigma) v_u: the renoising direction is the unconditional eps."""
        return velocity_to_x0(x, sigma, cfg(v_cond, v_uncond, self.lam)), velocity_to_eps(x, sigma, v_uncond)

    def euler_step(self, x: Tensor, sigma: SigmaLike, sigma_next: SigmaLike, v_cond: Tensor,
                   v_uncond: Tensor) -> Tensor:
        """The flow Euler (DDIM) step (eq. 11 in flow form): x' = (1 - sigma') x0_lam + sigma' eps_u."""
        x0, eps = self.x0_eps(x, sigma, v_cond, v_uncond)
        s_next = per_sample(sigma_next, x)
        return (1 - s_next) * x0 + s_next * eps

    def step_weight(self, sigma: float, sigma_next: float) -> float:
        """The CFG weight whose plain Euler step equals the CFG++ step: lam sigma (1 - sigma') / (sigma - sigma');
        sigma' != sigma."""
        return self.lam * sigma * (1 - sigma_next) / (sigma - sigma_next)


def cfgpp_x0_eps(x: Tensor, sigma: SigmaLike, v_cond: Tensor, v_uncond: Tensor, *, lam: float) -> tuple[Tensor, Tensor]:
    """CFG++ (arXiv 2406.08070, Alg. 1) x0_lam and eps_u, parameters checked: see CFGPP.x0_eps."""
    check_pair(v_cond, v_uncond)
    law = CFGPP(lam)
    validate_sigma(sigma)
    return law.x0_eps(x, sigma, v_cond, v_uncond)


def cfgpp_euler_step(x: Tensor, sigma: SigmaLike, sigma_next: SigmaLike, v_cond: Tensor, v_uncond: Tensor, *,
                     lam: float) -> Tensor:
    """CFG++ flow Euler (DDIM) step (arXiv 2406.08070 eq. 11 in flow form), parameters checked: see CFGPP.euler_step."""
    validate_sigma(sigma_next, "sigma_next")
    check_pair(v_cond, v_uncond)
    law = CFGPP(lam)
    validate_sigma(sigma)
    return law.euler_step(x, sigma, sigma_next, v_cond, v_uncond)


def cfgpp_velocity(sigma: float, sigma_next: float, v_cond: Tensor, v_uncond: Tensor, *, lam: float) -> Tensor:
    """The velocity whose plain Euler step equals the CFG++ step (arXiv 2406.08070):
    v = v_u + lam sigma (1 - sigma') / (sigma - sigma') (v_c - v_u), i.e. CFG with CFGPP.step_weight."""
    law = CFGPP(lam)
    sigma, sigma_next = scalar_sigma(sigma, "sigma"), scalar_sigma(sigma_next, "sigma_next")
    if sigma == sigma_next:
        raise ValueError(f"sigma_next must differ from sigma, got both {ascii(sigma)}")
    return cfg(v_cond, v_uncond, law.step_weight(sigma, sigma_next))
