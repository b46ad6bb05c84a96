"""Solver benchmark cases: configurations, the samplers under test and the analytic mixtures (bench/solvers.py)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from rectiflow.models.analytic_flows import GaussianMixtureFlow, four_mode_mixture, latent_mixture
from rectiflow.testing.comfy_host import pack_module, run_node

SCHEDULES = ("default", "optimal")
BUILTIN_CALLS_PER_STEP = {"euler": 1, "heun": 2, "lms": 1, "dpmpp_2m": 1, "res_multistep": 1, "deis": 1,
                          "ipndm": 1, "ipndm_v": 1, "uni_pc": 1, "uni_pc_bh2": 1, "gradient_estimation": 1}
ADAPTIVE_RTOLS = (1e-1, 1e-2, 1e-3)
OPTIMAL_FINE_STEPS = 64  # RectiFlowOptimalSteps' default
DIGITS_REFERENCE_RTOL = 1e-4


@dataclass(frozen=True)
class Config:
    nfes: tuple[int, ...]
    points_2d: int
    latents: int
    digits_per_label: int
    timing_nfe: int
    timing_repeats: int
    seed: int = 0
    learned_iterations: int = 60  # RectiFlowLearnSolver's defaults: what a user gets
    learned_reference_steps: int = 48


FULL = Config(nfes=(2, 3, 4, 6, 8, 12, 16, 32), points_2d=256, latents=16, digits_per_label=10, timing_nfe=16,
              timing_repeats=7)
QUICK = Config(nfes=(2, 4, 8), points_2d=64, latents=2, digits_per_label=2, timing_nfe=8, timing_repeats=3,
               learned_iterations=8, learned_reference_steps=16)


# ---------------------------------------------------------------------------------------------------- samplers

@dataclass(frozen=True)
class SamplerSpec:
    """A SAMPLER node with its inputs and cost; `ours` marks RectiFlow solvers."""
    label: str
    node: str
    inputs: dict = field(default_factory=dict)
    calls_per_step: int = 1
    extra_calls: int = 0
    ours: bool = False

    def steps_for(self, nfe: int) -> int:
        return (nfe - self.extra_calls) // self.calls_per_step

    def build(self):
        return run_node(self.node, **self.inputs)[0]


def our_specs(include_sde: bool) -> list[SamplerSpec]:
    """Every fixed-step solver of RectiFlowSamplerSelect (sde only where stochastic sampling is meaningful)."""
    solvers = pack_module("samplers.solvers").SOLVERS
    return [SamplerSpec(f"rectiflow/{name}", "RectiFlowSamplerSelect", {"solver": name}, info.nfe_per_step,
                        info.nfe_extra, ours=True)
            for name, info in solvers.items() if info.nfe_per_step is not None and (include_sde or name != "sde")]


def builtin_specs() -> list[SamplerSpec]:
    return [SamplerSpec(f"comfyui/{name}", "KSamplerSelect", {"sampler_name": name}, calls)
            for name, calls in BUILTIN_CALLS_PER_STEP.items()]


def adaptive_spec(rtol: float) -> SamplerSpec:
    return SamplerSpec(f"rectiflow/adaptive rtol={rtol:g}", "RectiFlowSamplerAdaptive",
                       {"rtol": rtol, "atol": rtol / 10, "max_nfe": 1000}, ours=True)



# ------------------------------------------------------------------------------------------------ analytic cases

@dataclass(frozen=True)
class AnalyticCase:
    """One benchmark shape: the mixture, the latent shape of one sample, and a short name."""
    name: str
    flow: GaussianMixtureFlow
    sample_shape: tuple[int, ...]  # [C, H, W]
    batch: int


def analytic_cases(points_2d: int, latents: int) -> list[AnalyticCase]:
    return [AnalyticCase("2d", four_mode_mixture(), (2, 1, 1), points_2d),
            AnalyticCase("latent4x32x32", latent_mixture(), (4, 32, 32), latents)]


def data_samples(case: AnalyticCase, seed: int) -> torch.Tensor:
    """Exact samples of the mixture [batch, C, H, W] in float32, for inversion round trips."""
    gen = torch.Generator().manual_seed(seed)
    return case.flow.sample(case.batch, gen).float().reshape(case.batch, *case.sample_shape)


def reference_solution(case: AnalyticCase, noise: torch.Tensor, steps_per_unit: int = 1000) -> torch.Tensor:
    """Float64 RK4 solve of the exact probability-flow ODE from noise at sigma 1 to data at sigma 0."""
    flat = noise.double().reshape(noise.shape[0], -1)
    return case.flow.reference_solve(flat, 1.0, 0.0, steps_per_unit).reshape(noise.shape)


def nearest_mode(case: AnalyticCase, x: torch.Tensor) -> torch.Tensor:
    """[B] index of the mixture mean nearest to each sample."""
    return torch.cdist(x.double().flatten(1), case.flow.means).argmin(dim=1)


def wrong_mode_share(case: AnalyticCase, x: torch.Tensor, reference_modes: torch.Tensor) -> float:
    """Share of samples that land nearest to another mode than the reference solution (RMSE ~ mode spacing)."""
    return float((nearest_mode(case, x) != reference_modes).double().mean())

