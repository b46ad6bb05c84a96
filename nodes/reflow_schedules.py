"""SIGMAS nodes for reflow-distilled SD checkpoints: PeRFlow's window schedule (arXiv 2405.07510) and trailing DDIM
(Rectified Diffusion, arXiv 2410.07303). With ComfyUI's own euler / ddim samplers they reproduce the official loops."""
from __future__ import annotations

import logging

from comfy_api.latest import io

import comfy.model_sampling

from ..samplers.reflow_distilled import (
    PERFLOW_WINDOWS, ddim_prev_timesteps, perflow_sigmas, trailing_ddim_sigmas,
    trailing_matches_ddim_step, trailing_timesteps,
)
from .errors import quoted
from .validation import RectiFlowNode

CATEGORY = "sampling/rectiflow/schedules"
MAX_PERFLOW_STEPS = 200      # 50 per window; the official code stays exact up to 996
MAX_TRAILING_STEPS = 500     # beyond 666 the trailing timesteps reach 0 and the last step has length 0


class PeRFlowScheduler(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowPeRFlowScheduler",
            display_name="RectiFlow PeRFlow Schedule",
            category=CATEGORY,
            description="PeRFlow's time points (arXiv 2405.07510): the steps split over its 4 time windows "
                        "[1, 0.75, 0.5, 0.25, 0] exactly as PeRFlowScheduler.set_timesteps does (the first windows "
                        "get the remainder), sigma = timestep / 1000, then 0. With ComfyUI's euler (or RectiFlow "
                        "Sampler Euler) on a RectiFlow Load PeRFlow model this is the official sampler.",
            inputs=[io.Int.Input("steps", default=4, min=PERFLOW_WINDOWS, max=MAX_PERFLOW_STEPS,
                                 tooltip="Solver steps, at least one per window (4). PeRFlow's defaults: SD1.5 4-8 "
                                         "steps (cfg 4.5-7.5), SDXL 6 steps (cfg 2).")],
            outputs=[io.Sigmas.Output(tooltip="steps + 1 sigmas from 1 (noise) to 0 (data) on PeRFlow's windows.")],
        )

    @classmethod
    def execute(cls, steps: int) -> io.NodeOutput:
        return io.NodeOutput(perflow_sigmas(steps))


def discrete_sigma_table(model, input_name: str):
    """The model's table of VE sigmas (ModelSamplingDiscrete: sqrt((1 - alpha_bar) / alpha_bar) per timestep)."""
    sampling = model.get_model_object("model_sampling")
    if not isinstance(sampling, comfy.model_sampling.ModelSamplingDiscrete) or isinstance(
            sampling, comfy.model_sampling.CONST):
        raise ValueError(f"{input_name}: trailing DDIM needs a discrete-time diffusion model (eps or v prediction on "
                         "timesteps 0..999, such as SD1.5/SDXL or RectiFlow Load Rectified Diffusion); got model "
                         f"sampling {type(sampling).__name__}")
    return sampling.sigmas


def warn_unless_ddim_exact(steps: int, set_alpha_to_one: bool, train_steps: int) -> None:
    """Log where diffusers' DDIM (prev_timestep = t - 1000 // steps) would not land on the next trailing step."""
    if trailing_matches_ddim_step(steps, set_alpha_to_one, train_steps):
        return
    logging.warning(
        "RectiFlow Trailing DDIM Schedule: at %d steps diffusers' DDIMScheduler steps to timesteps %s but evaluates "
        "the network at %s; these sigmas follow the trailing timesteps (model and state agree), so results differ "
        "slightly from diffusers. Step counts that divide %d (1, 2, 4, 5, 8, 10, ...) match it exactly.",
        steps, ddim_prev_timesteps(steps, train_steps)[:-1], trailing_timesteps(steps, train_steps)[1:], train_steps)


class TrailingDDIMScheduler(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowTrailingDDIMScheduler",
            display_name="RectiFlow Trailing DDIM Schedule",
            category=CATEGORY,
            description="diffusers' DDIMScheduler timesteps with timestep_spacing='trailing' (999, ...), as the "
                        "model's sigmas, then the final alpha's sigma. With ComfyUI's euler or ddim sampler on an eps "
                        "model this is DDIM with eta 0, the sampler of Rectified Diffusion (arXiv 2410.07303). Step "
                        "counts dividing 1000 match diffusers exactly; others log a warning (diffusers' own step "
                        "rule lands between its timesteps there).",
            inputs=[
                io.Model.Input("model", tooltip="Discrete-time eps (or v) model whose sigma table gives the sigmas, "
                                                "e.g. RectiFlow Load Rectified Diffusion."),
                io.Int.Input("steps", default=2, min=1, max=MAX_TRAILING_STEPS,
                             tooltip="Sampling steps. Rectified Diffusion's defaults: rd 1-2 steps (cfg 1.5), cm 1-2 "
                                     "steps (cfg 1), phased and phasedxl 4 steps (cfg 1.5)."),
                io.Boolean.Input("set_alpha_to_one", default=False,
                                 tooltip="diffusers' set_alpha_to_one: the last step goes to alpha 1 (sigma 0, the "
                                         "denoised latent). Off (Rectified Diffusion's config): it stops at "
                                         "alpha_bar_0, sigma_0 = sqrt((1 - alpha_bar_0) / alpha_bar_0)."),
            ],
            outputs=[io.Sigmas.Output(tooltip="steps + 1 decreasing sigmas of the model's table.")],
        )

    @classmethod
    def execute(cls, model, steps: int, set_alpha_to_one: bool = False) -> io.NodeOutput:
        table = discrete_sigma_table(model, "model")
        if not 1 <= steps <= min(MAX_TRAILING_STEPS, len(table) // 2):
            raise ValueError(f"steps: expected an integer in [1, {min(MAX_TRAILING_STEPS, len(table) // 2)}], "
                             f"got {quoted(steps)}")
        warn_unless_ddim_exact(steps, set_alpha_to_one, len(table))
        return io.NodeOutput(trailing_ddim_sigmas(table, steps, set_alpha_to_one))


REFLOW_SCHEDULE_NODES = [PeRFlowScheduler, TrailingDDIMScheduler]
