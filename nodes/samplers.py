"""SAMPLER nodes: RectiFlow solvers handed to ComfyUI as `comfy.samplers.KSAMPLER` objects (Euler, Select,
Adaptive, SDE)."""
from __future__ import annotations

import functools

import torch

from comfy_api.latest import io

import comfy.model_management
import comfy.samplers

from ..samplers.solvers import (
    FINAL_STEPS, MAX_STEP_RATIO, SOLVERS, STARTS, check_adams_options, check_final_step, sample_adams_bashforth,
    sample_flow_adaptive, sample_flow_euler, sample_flow_sde,
)
from ..samplers.solvers.sde import DIFFUSION_SHAPES
from .comfy_compat import is_velocity_flow
from .velocity_flow import velocity_at_zero_is_minus_x
from .errors import NonFiniteLatentError, quoted
from .validation import RectiFlowNode, check_finite, check_option

CATEGORY = "sampling/rectiflow/samplers"
SDE_DEFAULT_NOISE = 0.7
SOLVER_MARK = "rectiflow_solver"   # attribute set on the function of every RectiFlow SAMPLER


def check_step_finite(solver_name: str, info: dict) -> None:
    """Raise naming the step and sigma when the step's state or denoised estimate is not finite (one reduction each)."""
    if not (torch.isfinite(info["x"]).all() and torch.isfinite(info["denoised"]).all()):
        raise NonFiniteLatentError(
            f"RectiFlow sampler {solver_name}: step {info['i']} at sigma {float(info['sigma']):.4g} produced NaN or "
            "infinite values; lower the guidance weight or the noise scale")


def with_interrupts(solver):
    """Wrap a solver: reject non-finite starting latents, check ComfyUI's interrupt flag and that the state is finite
    every step, forward the progress callback, and check the result."""
    name = getattr(solver, "__name__", "solver")

    @functools.wraps(solver)
    def run(model, x, sigmas, extra_args=None, callback=None, disable=None, **options):
        if not torch.isfinite(x).all():
            raise ValueError("latent_image/noise: the starting latent contains NaN or infinite values; expected "
                             "finite numbers (check the noise and latent inputs)")

        def step_callback(info: dict) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            check_step_finite(name, info)
            if callback is not None:
                callback(info)
        out = solver(model, x, sigmas, extra_args=extra_args, callback=step_callback, disable=disable, **options)
        if not torch.isfinite(out).all():
            raise NonFiniteLatentError(f"RectiFlow sampler {name}: the last step (to sigma {float(sigmas[-1]):.4g}) "
                                       "produced NaN or infinite values")
        return out
    setattr(run, SOLVER_MARK, True)
    return run


def is_rectiflow_sampler(sampler) -> bool:
    """True for a SAMPLER whose function is a RectiFlow solver (marked by with_interrupts)."""
    return bool(getattr(getattr(sampler, "sampler_function", None), SOLVER_MARK, False))


def runs_upwards(sigmas: torch.Tensor) -> bool:
    return len(sigmas) > 1 and float(sigmas[-1]) > float(sigmas[0])


def check_velocity_flow(model_sampling, sigmas: torch.Tensor, options: dict) -> None:
    """RectiFlow's solvers read v = (x - x0_hat) / sigma, and v(x, 0) = -x at sigma 0: refuse models for which the
    first is not the velocity, and runs that need the second on a flow where it does not hold (PeRFlow)."""
    if not is_velocity_flow(model_sampling):
        raise ValueError("sampler: RectiFlow solvers integrate flow models (ComfyUI's CONST convention, such as SD3, "
                         "Flux, RectiFlow Load PeRFlow or the digits model); this model's sampling is "
                         f"{type(model_sampling).__name__} (eps or v diffusion): use ComfyUI's own samplers for it")
    at_zero = float(sigmas[0]) == 0.0 or (float(sigmas[-1]) == 0.0 and options.get("final_step") == "exact")
    if at_zero and not velocity_at_zero_is_minus_x(model_sampling):
        raise ValueError(f"sampler: this model ({type(model_sampling).__name__}) is a flow whose velocity at sigma 0 "
                         "is not -x, which inversion from sigma 0 and final_step 'exact' use; expected final_step "
                         "'denoised', or sigmas starting above 0 for an inversion")


class FlowKSampler(comfy.samplers.KSAMPLER):
    """KSAMPLER for RectiFlow solvers. Decreasing sigmas run ComfyUI's KSAMPLER.sample unchanged.

    Increasing sigmas (FlipSigmas, RectiFlow Invert) integrate data -> noise. KSAMPLER.sample would end such a run
    with CONST's inverse_noise_scaling, latent / (1 - sigma): infinite at sigma 1, a rescaled state below it. Here
    the run ends with the solver's state at the last sigma, as RectiFlow Invert returns it; the start is ComfyUI's
    own noise_scaling, as in KSAMPLER.sample."""

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        check_velocity_flow(model_wrap.inner_model.model_sampling, sigmas, self.extra_options)
        if not runs_upwards(sigmas):
            return super().sample(model_wrap, sigmas, extra_args, callback, noise, latent_image, denoise_mask,
                                  disable_pbar)
        extra_args["denoise_mask"] = denoise_mask
        model_k = comfy.samplers.KSamplerX0Inpaint(model_wrap, sigmas)
        model_k.latent_image = latent_image
        model_k.noise = noise
        start = model_wrap.inner_model.model_sampling.noise_scaling(sigmas[0], noise, latent_image,
                                                                    self.max_denoise(model_wrap, sigmas))
        total_steps = len(sigmas) - 1
        k_callback = None if callback is None else (
            lambda info: callback(info["i"], info["denoised"], info["x"], total_steps))
        return self.sampler_function(model_k, start, sigmas, extra_args=extra_args, callback=k_callback,
                                     disable=disable_pbar, **self.extra_options)


def rectiflow_ksampler(solver, **options) -> FlowKSampler:
    """The SAMPLER every RectiFlow sampler node hands ComfyUI: `solver` wrapped by with_interrupts."""
    return FlowKSampler(with_interrupts(solver), extra_options=options)


class SamplerEuler(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerEuler",
            display_name="RectiFlow Sampler Euler",
            category=CATEGORY,
            description="First-order flow Euler: x <- x + (sigma_next - sigma) * v with v = (x - x0_hat) / sigma. "
                        "Use with SamplerCustom / SamplerCustomAdvanced on flow (CONST) models.",
            inputs=[],
            outputs=[io.Sampler.Output(tooltip="RectiFlow flow-Euler SAMPLER (1 model call per step).")],
        )

    @classmethod
    def execute(cls) -> io.NodeOutput:
        return io.NodeOutput(rectiflow_ksampler(sample_flow_euler))


def solver_tooltip() -> str:
    return "Flow solver. " + " ".join(f"{name}: {info.description}" for name, info in SOLVERS.items())


class SamplerSelect(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerSelect",
            display_name="RectiFlow Sampler Select",
            category=CATEGORY,
            description="Any RectiFlow flow solver as a SAMPLER for SamplerCustom(Advanced) or RectiFlow Invert. "
                        "Decreasing sigmas generate, increasing sigmas (RectiFlow Invert, or FlipSigmas in "
                        "SamplerCustomAdvanced) invert and return the latent at the last sigma as it is.",
            inputs=[io.Combo.Input("solver", options=list(SOLVERS), default="ab2", tooltip=solver_tooltip())],
            outputs=[io.Sampler.Output(tooltip="SAMPLER for SamplerCustom(Advanced) or RectiFlow Invert.")],
        )

    @classmethod
    def execute(cls, solver: str) -> io.NodeOutput:
        if solver not in SOLVERS:
            raise ValueError(f"solver: unknown solver {quoted(solver)}, expected one of {list(SOLVERS)}")
        options = {"noise_scale": SDE_DEFAULT_NOISE} if solver == "sde" else {}
        return io.NodeOutput(rectiflow_ksampler(SOLVERS[solver].function, **options))


class SamplerAdaptive(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerAdaptive",
            display_name="RectiFlow Sampler Adaptive (Bogacki-Shampine)",
            category=CATEGORY,
            description="Adaptive embedded Bogacki-Shampine 3(2) flow solver; the sigmas are checkpoints it passes "
                        "through, step sizes follow rtol/atol.",
            inputs=[
                # The frontend rounds a typed float to the decimals of its step (round=False is ignored), so the
                # step is the smallest value a user can enter.
                io.Float.Input("rtol", default=1e-3, min=1e-5, max=1.0, step=1e-5,
                               tooltip="Relative error tolerance per accepted step (1e-5 to 1)."),
                io.Float.Input("atol", default=1e-4, min=1e-8, max=1.0, step=1e-8,
                               tooltip="Absolute error tolerance per accepted step (1e-8 to 1)."),
                io.Int.Input("max_nfe", default=200, min=4, max=100000,
                             tooltip="Model-call budget; sampling stops with an error instead of exceeding it."),
            ],
            outputs=[io.Sampler.Output(tooltip="SAMPLER for SamplerCustom(Advanced) or RectiFlow Invert.")],
        )

    @classmethod
    def execute(cls, rtol: float, atol: float, max_nfe: int) -> io.NodeOutput:
        check_finite(rtol=rtol, atol=atol)
        return io.NodeOutput(rectiflow_ksampler(sample_flow_adaptive, rtol=rtol, atol=atol, max_nfe=max_nfe))


class SamplerSDE(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerSDE",
            display_name="RectiFlow Sampler SDE",
            category=CATEGORY,
            description="Stochastic flow sampler with the ODE's marginals (arXiv 2503.19385); noise_scale 0 is "
                        "exactly the Euler ODE sampler. Generation only.",
            inputs=[
                io.Float.Input("noise_scale", default=SDE_DEFAULT_NOISE, min=0.0, max=5.0, step=0.01, round=False,
                               tooltip="Diffusion strength g(sigma) = noise_scale * sigma; 0 = deterministic ODE."),
                io.Combo.Input("diffusion", options=["sigma", "square", "constant"], default="sigma",
                               tooltip="Shape of g(sigma): proportional to sigma (paper default), sigma^2, or flat."),
            ],
            outputs=[io.Sampler.Output(tooltip="SAMPLER for SamplerCustom(Advanced); generation only.")],
        )

    @classmethod
    def execute(cls, noise_scale: float, diffusion: str) -> io.NodeOutput:
        check_finite(noise_scale=noise_scale)
        if diffusion not in DIFFUSION_SHAPES:
            raise ValueError(f"diffusion: {quoted(diffusion)} is not a diffusion shape; expected one of "
                             f"{sorted(DIFFUSION_SHAPES)}")
        return io.NodeOutput(rectiflow_ksampler(sample_flow_sde, noise_scale=noise_scale, diffusion=diffusion))


class SamplerAdams(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerAdams",
            display_name="RectiFlow Sampler Adams-Bashforth (options)",
            category=CATEGORY,
            description="Variable-step Adams-Bashforth in sigma with its options: order, first step, and the step "
                        "ratio above which a step lowers its order. 1 model call per step (+1 for a Heun start). "
                        "Decreasing sigmas generate, increasing sigmas invert (RectiFlow Invert).",
            inputs=[
                io.Int.Input("order", default=3, min=1, max=3,
                             tooltip="Polynomial order: 1 Euler, 2 AB2 (flow DPM-Solver++ 2M), 3 AB3 (3M)."),
                io.Combo.Input("start", options=list(STARTS), default="heun",
                               tooltip="First step. heun: one extra model call, keeps order 3 (and 2) all the "
                                       "way; euler: saves that call, order 3 falls to 2 as steps shrink."),
                io.Float.Input("max_step_ratio", default=MAX_STEP_RATIO, min=1.0, max=1000.0, step=0.1,
                               round=False,
                               tooltip="A step longer than this many times the previous one (schedules that jump, "
                                       "e.g. linear-quadratic or optimal steps) uses a lower order, down to Euler; "
                                       "extrapolating far beyond the history is unstable. 2 by default; 1000 "
                                       "turns the fallback off."),
            ],
            outputs=[io.Sampler.Output(tooltip="SAMPLER for SamplerCustom(Advanced) or RectiFlow Invert.")],
        )

    @classmethod
    def execute(cls, order: int, start: str, max_step_ratio: float) -> io.NodeOutput:
        check_finite(max_step_ratio=max_step_ratio)
        check_adams_options(order, start, max_step_ratio)
        return io.NodeOutput(rectiflow_ksampler(sample_adams_bashforth, order=order, start=start,
                                                max_step_ratio=max_step_ratio))


RUNGE_KUTTA = {name: SOLVERS[name].function for name in ("heun", "rk3", "rk4")}


class SamplerRungeKutta(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerRungeKutta",
            display_name="RectiFlow Sampler Runge-Kutta (options)",
            category=CATEGORY,
            description="Heun, Kutta RK3 or classical RK4 with the choice of how the step into sigma 0 is taken.",
            inputs=[
                io.Combo.Input("method", options=list(RUNGE_KUTTA), default="rk4",
                               tooltip="heun: 2 calls per step; rk3: 3; rk4: 4 (one less on the step into 0 with "
                                       "final_step exact)."),
                io.Combo.Input("final_step", options=list(FINAL_STEPS), default="denoised",
                               tooltip="denoised (default, k-diffusion's rule): the step into sigma 0 lands on the "
                                       "model's x0 estimate, second order there; best on trained models. exact: "
                                       "every stage, the one at 0 using the exact velocity -x (no model call); full "
                                       "order 3/4 to sigma 0 on smooth flows, but worse on image-like data."),
            ],
            outputs=[io.Sampler.Output(tooltip="SAMPLER for SamplerCustom(Advanced) or RectiFlow Invert.")],
        )

    @classmethod
    def execute(cls, method: str, final_step: str) -> io.NodeOutput:
        check_option("method", method, RUNGE_KUTTA)
        check_final_step(final_step)
        return io.NodeOutput(rectiflow_ksampler(RUNGE_KUTTA[method], final_step=final_step))


SAMPLER_NODES = [SamplerEuler, SamplerSelect, SamplerAdaptive, SamplerSDE, SamplerAdams, SamplerRungeKutta]
