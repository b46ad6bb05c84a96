"""Sampling maths of two reflow-distilled Stable Diffusion families, as their official code runs them (pure torch).

PeRFlow (Yan et al., "PeRFlow: Piecewise Rectified Flow as Universal Plug-and-Play Accelerator", arXiv 2405.07510;
magic-research/piecewise-rectified-flow src/scheduler_perflow.py): the time t in [0, 1] is cut into windows
[1, 0.75), [0.75, 0.5), [0.5, 0.25), [0.25, 0]; inside a window the flow is straight between the VP-scaled states at
the window's ends, the network (fed the timestep 1000 t) predicts an eps from which a velocity dx/dt follows, and
Euler steps x <- x + (t' - t) v integrate it.

Rectified Diffusion (Wang et al., "Rectified Diffusion: Straightness Is Not Your Need in Rectified Flow",
arXiv 2410.07303; G-U-N/Rectified-Diffusion generate_5k.py): eps prediction sampled by diffusers' DDIMScheduler with
"trailing" timestep spacing, eta 0, set_alpha_to_one=False, and diffusers' "linear" (rd, cm) or "scaled_linear"
(phased, phasedxl) betas between 0.00085 and 0.012.
"""
from __future__ import annotations

import math

import torch

from .messages import quoted

TRAIN_TIMESTEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012        # Stable Diffusion 1.5 / XL scheduler configs
BETA_SCHEDULES = ("linear", "scaled_linear")  # diffusers' names
PERFLOW_WINDOWS = 4
PERFLOW_PREDICTIONS = ("diff_eps", "ddim_eps")   # PeRFlow SD1.5 / SDXL checkpoints
WINDOW_TOLERANCE = 0.1 * (1.0 / TRAIN_TIMESTEPS)   # scheduler_perflow.Time_Windows: 0.1 * precision


def diffusers_betas(beta_schedule: str, steps: int = TRAIN_TIMESTEPS) -> torch.Tensor:
    """diffusers' betas (float32, as DDIMScheduler / PeRFlowScheduler build them). "linear" is
    linspace(beta_start, beta_end); "scaled_linear" is linspace(sqrt(beta_start), sqrt(beta_end))^2, which is what
    ComfyUI calls "linear"."""
    if beta_schedule == "linear":
        return torch.linspace(BETA_START, BETA_END, steps, dtype=torch.float32)
    if beta_schedule == "scaled_linear":
        return torch.linspace(BETA_START ** 0.5, BETA_END ** 0.5, steps, dtype=torch.float32) ** 2
    raise ValueError(f"beta_schedule: expected one of {list(BETA_SCHEDULES)}, got {quoted(beta_schedule)}")


def diffusers_alphas_cumprod(beta_schedule: str) -> torch.Tensor:
    """alpha_bar_t = prod_{s <= t} (1 - beta_s), t = 0..999 (float32, as diffusers computes it)."""
    return torch.cumprod(1.0 - diffusers_betas(beta_schedule), dim=0)


# ---------------------------------------------------------------- PeRFlow -------------------------------------------

def perflow_window_bounds(num_windows: int = PERFLOW_WINDOWS) -> tuple[list[float], list[float]]:
    """Window starts [1, 0.75, 0.5, 0.25] and ends [0.75, 0.5, 0.25, 0] (Time_Windows, num_windows = 4)."""
    starts = [1.0 * i / num_windows for i in range(1, num_windows + 1)][::-1]
    return starts, starts[1:] + [0.0]


def perflow_window_index(t: torch.Tensor, num_windows: int = PERFLOW_WINDOWS) -> torch.Tensor:
    """Index of the window holding each time in `t` (Time_Windows.get_window: t belongs to the window whose end
    is below t - 1e-4, so a window start belongs to its own window). Times at or below 1e-4 fall in the last one."""
    _, ends = perflow_window_bounds(num_windows)
    ends_t = torch.tensor(ends, dtype=t.dtype, device=t.device)
    shifted = (t - WINDOW_TOLERANCE).reshape(-1, 1)
    return (shifted <= ends_t).sum(dim=1).clamp(max=num_windows - 1)


def perflow_velocity(eps: torch.Tensor, x: torch.Tensor, t: torch.Tensor, prediction: str,
                     alphas_cumprod: torch.Tensor, num_windows: int = PERFLOW_WINDOWS) -> torch.Tensor:
    """PeRFlow's velocity dx/dt from the network's eps at time t (shape [] or [batch]), PeRFlowScheduler.step:
    the window-end state x_e = lambda_t x + eta_t eps, v = (x_e - x) / (t_e - t); "ddim_eps" (SDXL) and
    "diff_eps" (SD1.5) differ in lambda_s, eta_s. alphas_cumprod: the 1000 diffusers alpha_bar values."""
    if prediction not in PERFLOW_PREDICTIONS:
        raise ValueError(f"prediction: expected one of {list(PERFLOW_PREDICTIONS)}, got {quoted(prediction)}")
    t = t.reshape(-1).to(torch.float32)
    index = perflow_window_index(t, num_windows)
    starts, ends = perflow_window_bounds(num_windows)
    t_s = torch.tensor(starts, dtype=t.dtype, device=t.device)[index]
    t_e = torch.tensor(ends, dtype=t.dtype, device=t.device)[index]
    ac = alphas_cumprod.to(t.device)
    ac_s = ac[(t_s * TRAIN_TIMESTEPS - 1).long()]
    ac_e = ac[torch.clamp((t_e * TRAIN_TIMESTEPS - 1).long(), min=0)]
    if prediction == "ddim_eps":
        lambda_s = (ac_e / ac_s) ** 0.5
        eta_s = (1 - ac_e) ** 0.5 - (ac_e / ac_s * (1 - ac_s)) ** 0.5
    else:
        gamma_s_e = (ac_s / ac_e) ** 0.5
        lambda_s = 1 / gamma_s_e
        eta_s = -1 * (1 - gamma_s_e ** 2) ** 0.5 / gamma_s_e
    c_to_s = t - t_s
    denominator = lambda_s * (t - t_s) + (t_e - t)
    lambda_t = (lambda_s * (t_e - t_s)) / denominator
    eta_t = (eta_s * (t_e - t)) / denominator
    shape = (-1,) + (1,) * (x.ndim - 1)
    window_end = lambda_t.reshape(shape) * x + eta_t.reshape(shape) * eps
    return (window_end - x) / (t_e - (t_s + c_to_s)).reshape(shape)


def perflow_timesteps(steps: int, num_windows: int = PERFLOW_WINDOWS) -> list[int]:
    """PeRFlowScheduler.set_timesteps: the steps split over the windows (the first steps % windows windows get one
    more), per window np.linspace(start, end, n, endpoint=False), network timesteps int(1000 t) (truncated).
    Refuses fewer steps than windows (the official code silently raises them to the window count)."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < num_windows:
        raise ValueError(f"steps: PeRFlow needs at least one step per time window, i.e. an integer >= {num_windows}, "
                         f"got {quoted(steps)}")
    starts, ends = perflow_window_bounds(num_windows)
    timesteps = []
    for i, (start, end) in enumerate(zip(starts, ends)):
        count = steps // num_windows + (1 if i < steps % num_windows else 0)
        step = (end - start) / count                    # numpy linspace(endpoint=False): k * step + start, float64
        timesteps += [int((k * step + start) * TRAIN_TIMESTEPS) for k in range(count)]
    if any(b >= a for a, b in zip(timesteps, timesteps[1:])) or timesteps[-1] <= 0:
        raise ValueError(f"steps: {steps} steps repeat a network timestep (at most {TRAIN_TIMESTEPS // num_windows} "
                         "per window can be told apart); use fewer steps")
    return timesteps


def perflow_sigmas(steps: int, num_windows: int = PERFLOW_WINDOWS) -> torch.Tensor:
    """ComfyUI SIGMAS for PeRFlow: sigma = t = timestep / 1000 (float32, as the official t_c), then 0."""
    timesteps = torch.tensor(perflow_timesteps(steps, num_windows) + [0], dtype=torch.int64)
    return timesteps / TRAIN_TIMESTEPS


# ------------------------------------------------------ trailing DDIM (Rectified Diffusion) ------------------------

def trailing_timesteps(steps: int, train_steps: int = TRAIN_TIMESTEPS) -> list[int]:
    """DDIMScheduler.set_timesteps with timestep_spacing="trailing": round(arange(1000, 0, -1000/steps)) - 1."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= train_steps:
        raise ValueError(f"steps: expected an integer in [1, {train_steps}], got {quoted(steps)}")
    start, step = float(train_steps), -train_steps / steps
    count = math.ceil((0.0 - start) / step)            # np.arange(start, 0, step): its length and its values
    delta = (start + step) - start                     # start + k * delta, as numpy's fill computes them
    return [round(start + k * delta) - 1 for k in range(count)]


def ddim_prev_timesteps(steps: int, train_steps: int = TRAIN_TIMESTEPS) -> list[int]:
    """Where diffusers' DDIM step moves the state: prev_timestep = t - 1000 // steps (negative: the final alpha)."""
    return [t - train_steps // steps for t in trailing_timesteps(steps, train_steps)]


def trailing_matches_ddim_step(steps: int, set_alpha_to_one: bool = False, train_steps: int = TRAIN_TIMESTEPS) -> bool:
    """True when each diffusers DDIM step lands on the next trailing timestep and the last one on the final alpha
    (prev_timestep < 0, or = 0 where set_alpha_to_one=False makes the final alpha alpha_bar_0 anyway): then the
    trailing sigmas reproduce DDIMScheduler exactly. Otherwise (3, 6, 7, 9, 11-19, ... steps: 1000 // steps is not
    the trailing spacing) diffusers moves the state to t - 1000 // steps but evaluates the network at the next
    trailing timestep, one or a few timesteps away."""
    timesteps = trailing_timesteps(steps, train_steps)
    landing = ddim_prev_timesteps(steps, train_steps)
    last_ok = landing[-1] < 0 or (landing[-1] == 0 and not set_alpha_to_one)
    return landing[:-1] == timesteps[1:] and last_ok


def trailing_ddim_sigmas(sigma_table: torch.Tensor, steps: int, set_alpha_to_one: bool = False) -> torch.Tensor:
    """Sigmas (VE, sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t), the model's 1000-entry table) at the trailing
    timesteps, then the final one: sigma_0 (alpha_bar_0, set_alpha_to_one=False) or 0 (alpha 1). An Euler step
    between VE sigmas on an eps model is a DDIM step with eta 0 (Song et al., arXiv 2010.02502, eq. 12)."""
    final = torch.zeros((), dtype=sigma_table.dtype) if set_alpha_to_one else sigma_table[0].cpu()
    picked = sigma_table.cpu()[torch.tensor(trailing_timesteps(steps, len(sigma_table)))]
    return torch.cat([picked, final.reshape(1)]).float()
