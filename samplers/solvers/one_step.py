"""One-step flow solvers: Euler, Heun, Kutta RK3, RK4 (as Butcher tableaus) and RF-Solver."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import torch

from ..messages import quoted
from .core import Callback, Step, Velocity, combine, prepare, report_step


def _sample_single_step(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None, callback: Callback,
                        step: Step) -> torch.Tensor:
    """The loop of every one-step method: v at each sigma, preview, then `step(velocity, x, sigma, sigma_next, v)`."""
    out_dtype = x.dtype
    x, sigmas, velocity = prepare(model, x, sigmas, extra_args)
    for i in range(len(sigmas) - 1):
        v, denoised = velocity(x, sigmas[i])
        report_step(callback, i, x, sigmas[i], sigmas[i], denoised)
        x = step(velocity, x, sigmas[i], sigmas[i + 1], v)
    return x.to(out_dtype)


def euler_step(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
               v: torch.Tensor) -> torch.Tensor:
    """x' = x + (sigma' - sigma) v; no further model call."""
    return x + (sigma_next - sigma) * v


@torch.no_grad()
def sample_flow_euler(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                      callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """Explicit Euler on dx/dsigma = v (rectified flow, arXiv 2209.03003 eq. 1): x' = x + (sigma' - sigma) v."""
    return _sample_single_step(model, x, sigmas, extra_args, callback, euler_step)


@dataclass(frozen=True)
class ButcherTableau:
    """Explicit Runge-Kutta coefficients: stage nodes c, lower-triangular rows a, weights b."""
    c: tuple[float, ...]
    a: tuple[tuple[float, ...], ...]
    b: tuple[float, ...]


HEUN = ButcherTableau(c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5))
MIDPOINT = ButcherTableau(c=(0.0, 0.5), a=((), (0.5,)), b=(0.0, 1.0))
KUTTA3 = ButcherTableau(c=(0.0, 0.5, 1.0), a=((), (0.5,), (-1.0, 2.0)), b=(1 / 6, 2 / 3, 1 / 6))
RK4 = ButcherTableau(c=(0.0, 0.5, 0.5, 1.0), a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
                     b=(1 / 6, 1 / 3, 1 / 3, 1 / 6))


def explicit_rk_step(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                     v: torch.Tensor, tableau: ButcherTableau) -> torch.Tensor:
    """One explicit Runge-Kutta step from sigma to sigma_next, given the first stage v = v(x, sigma).

    A stage at sigma = 0 costs no model call (`flow_velocity`'s exact velocity -x there)."""
    h = sigma_next - sigma
    stages = [v]
    for c, row in zip(tableau.c[1:], tableau.a[1:]):
        stage, _ = velocity(x + h * combine(row, stages), sigma + c * h)
        stages.append(stage)
    return x + h * combine(tableau.b, stages)


FINAL_STEPS = ("denoised", "exact")


def runge_kutta_step(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                     v: torch.Tensor, tableau: ButcherTableau, final_step: str = "denoised") -> torch.Tensor:
    """`explicit_rk_step`, with a choice for a step into sigma 0 whose last stage sits there.

    final_step="exact" takes every stage, the one at 0 being the exact v(x, 0) = -x: full order all the way to 0 on
    smooth data densities. "denoised" takes the Euler step onto x0_hat (k-diffusion's rule), second order to 0.
    Trained models and narrow data need "denoised": the velocity along a trajectory tends to eps - x0 as sigma -> 0
    while v(x, 0) = -x, a jump that the stage at 0 averages in (Heun 3-5x worse on the digits model).
    """
    if sigma_next == 0 and tableau.c[-1] == 1.0 and final_step == "denoised":
        return euler_step(velocity, x, sigma, sigma_next, v)
    return explicit_rk_step(velocity, x, sigma, sigma_next, v, tableau)


def check_final_step(final_step: str) -> None:
    if final_step not in FINAL_STEPS:
        raise ValueError(f"final_step: {quoted(final_step)} is not an option; expected one of {list(FINAL_STEPS)}")


def _sample_runge_kutta(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None, callback: Callback,
                        tableau: ButcherTableau, final_step: str) -> torch.Tensor:
    check_final_step(final_step)
    step = partial(runge_kutta_step, tableau=tableau, final_step=final_step)
    return _sample_single_step(model, x, sigmas, extra_args, callback, step)


@torch.no_grad()
def sample_flow_heun(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                     callback: Callback = None, disable: bool | None = None, final_step: str = "denoised"
                     ) -> torch.Tensor:
    """Heun's RK2 on the flow ODE (EDM, arXiv 2206.00364 Alg. 1): x' = x + h (v(x) + v(x + h v)) / 2; 2 NFE/step."""
    return _sample_runge_kutta(model, x, sigmas, extra_args, callback, HEUN, final_step)


@torch.no_grad()
def sample_flow_rk3(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None, final_step: str = "denoised"
                    ) -> torch.Tensor:
    """Kutta's third-order method (Hairer-Norsett-Wanner I.1, Table 1.1): c = (0, 1/2, 1), b = (1, 4, 1) / 6."""
    return _sample_runge_kutta(model, x, sigmas, extra_args, callback, KUTTA3, final_step)


@torch.no_grad()
def sample_flow_rk4(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                    callback: Callback = None, disable: bool | None = None, final_step: str = "denoised"
                    ) -> torch.Tensor:
    """Classical fourth-order Runge-Kutta (Hairer-Norsett-Wanner I.1): b = (1, 2, 2, 1) / 6; 4 NFE/step."""
    return _sample_runge_kutta(model, x, sigmas, extra_args, callback, RK4, final_step)


def rf_solver_step(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                   v: torch.Tensor) -> torch.Tensor:
    """RF-Solver step (arXiv 2411.04746, 2nd-order Taylor): x' = x + h v + h^2/2 dv, dv = (v(x + h/2 v) - v) / (h/2)."""
    h = sigma_next - sigma
    v_mid, _ = velocity(x + 0.5 * h * v, sigma + 0.5 * h)
    dv_dsigma = (v_mid - v) / (0.5 * h)
    return x + h * v + 0.5 * h ** 2 * dv_dsigma


def rf_solver_step_midpoint(velocity: Velocity, x: torch.Tensor, sigma: torch.Tensor, sigma_next: torch.Tensor,
                            v: torch.Tensor) -> torch.Tensor:
    """Explicit midpoint step x' = x + h v(x + h/2 v, sigma + h/2): algebraically the RF-Solver Taylor step."""
    return explicit_rk_step(velocity, x, sigma, sigma_next, v, MIDPOINT)


@torch.no_grad()
def sample_rf_solver(model, x: torch.Tensor, sigmas: torch.Tensor, extra_args: dict | None = None,
                     callback: Callback = None, disable: bool | None = None) -> torch.Tensor:
    """RF-Solver (arXiv 2411.04746): the second-order Taylor update of `rf_solver_step` every step; 2 NFE/step."""
    return _sample_single_step(model, x, sigmas, extra_args, callback, rf_solver_step)
