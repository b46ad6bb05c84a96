"""Solver benchmark runs through ComfyUI's real sampling path: generation and inversion sweeps, timing
(bench/solvers.py)."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

from rectiflow.testing.comfy_host import run_node
from rectiflow.testing.comfy_models import analytic_model, counting_model, empty_conditioning

from ._solver_cases import (ADAPTIVE_RTOLS, OPTIMAL_FINE_STEPS, SCHEDULES, AnalyticCase, Config, SamplerSpec,
                            adaptive_spec, builtin_specs, data_samples, nearest_mode, our_specs, reference_solution,
                            wrong_mode_share)


# ------------------------------------------------------------------------------------------------ ComfyUI path

@dataclass
class Setup:
    """A model with its guider, a counted twin, the empty latent and the seed every run shares."""
    model: object
    guider: object
    counted_guider: object
    counter: list[int]
    latent: dict
    seed: int
    sigmas_cache: dict = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return self.latent["samples"].shape[0]

    def noise(self) -> torch.Tensor:
        return run_node("RandomNoise", noise_seed=self.seed)[0].generate_noise(self.latent)

    def sigmas(self, schedule: str, steps: int) -> torch.Tensor:
        """A fresh copy per run: ComfyUI 0.3.75's uni_pc writes 0.001 into the last sigma of its input in place."""
        key = (schedule, steps)
        if key not in self.sigmas_cache:
            self.sigmas_cache[key] = schedule_sigmas(self, schedule, steps).clone()
        return self.sigmas_cache[key].clone()


def make_setup(model, conditioning, latent: torch.Tensor, seed: int) -> Setup:
    counter = [0]
    guider = run_node("BasicGuider", model=model, conditioning=conditioning)[0]
    counted = run_node("BasicGuider", model=counting_model(model, counter), conditioning=conditioning)[0]
    return Setup(model, guider, counted, counter, {"samples": latent}, seed)


def schedule_sigmas(setup: Setup, schedule: str, steps: int) -> torch.Tensor:
    if schedule == "default":
        return run_node("BasicScheduler", model=setup.model, scheduler="simple", steps=steps, denoise=1.0)[0]
    return run_node("RectiFlowOptimalSteps", trajectory=reference_trajectory(setup), steps=steps)[0]


def reference_trajectory(setup: Setup):
    """The setup's fine reference solve (RectiFlowReferenceTrajectory), computed once and shared by every budget."""
    if "reference" not in setup.sigmas_cache:
        setup.sigmas_cache["reference"] = run_node(
            "RectiFlowReferenceTrajectory", guider=setup.guider, latent_image=setup.latent, noise_seed=setup.seed,
            fine_steps=OPTIMAL_FINE_STEPS)[0]
    return setup.sigmas_cache["reference"]


def generate(setup: Setup, sampler, sigmas: torch.Tensor, counted: bool = True) -> tuple[torch.Tensor, float]:
    """(samples, model calls per sample) of one SamplerCustomAdvanced run from the setup's seeded noise."""
    setup.counter[0] = 0
    out = run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=setup.seed)[0],
                   guider=setup.counted_guider if counted else setup.guider, sampler=sampler, sigmas=sigmas,
                   latent_image=setup.latent)[0]["samples"]
    return out, setup.counter[0] / setup.batch


def round_trip(setup: Setup, sampler, sigmas: torch.Tensor, data: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(inverted latent, regenerated data, model calls per sample per direction) via RectiFlowInvert."""
    latent = {"samples": data}
    setup.counter[0] = 0
    inverted, noise = run_node("RectiFlowInvert", guider=setup.counted_guider, sampler=sampler, sigmas=sigmas,
                               latent_image=latent)
    regenerated = run_node("SamplerCustomAdvanced", noise=noise, guider=setup.counted_guider, sampler=sampler,
                           sigmas=sigmas, latent_image=latent)[0]["samples"]
    return inverted["samples"], regenerated, setup.counter[0] / setup.batch / 2


def rmse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).pow(2).mean().sqrt())


def attempt(fn, *args):
    """fn(*args), or the exception text (a sampler failing is a result, not a crash of the benchmark)."""
    try:
        return fn(*args), None
    except Exception as e:  # noqa: BLE001
        return None, f"{type(e).__name__}: {e}"[:200]


# --------------------------------------------------------------------------------------------- generation sweep

def generation_sweep(setup: Setup, specs: list[SamplerSpec], nfes, metrics, tag: dict) -> list[dict]:
    """One row per (schedule, sampler, NFE budget): steps, actual NFE and metrics(samples) (or the error)."""
    rows = []
    for schedule in SCHEDULES:
        for spec in specs:
            for nfe in nfes:
                steps = spec.steps_for(nfe)
                if steps < 1:
                    continue
                result, error = attempt(generate, setup, spec.build(), setup.sigmas(schedule, steps))
                row = {**tag, "schedule": schedule, "sampler": spec.label, "ours": spec.ours, "nfe": nfe,
                       "steps": steps, "actual_nfe": None if error else result[1], "error": error}
                row.update(metrics(result[0]) if result else {})
                rows.append(row)
    return rows


def adaptive_rows(setup: Setup, metrics, tag: dict) -> list[dict]:
    """The adaptive solver at a few tolerances over sigmas [1, 0]; it picks its own steps (actual NFE reported)."""
    rows, sigmas = [], setup.sigmas("default", 1)
    for rtol in ADAPTIVE_RTOLS:
        spec = adaptive_spec(rtol)
        result, error = attempt(generate, setup, spec.build(), sigmas)
        row = {**tag, "schedule": "adaptive", "sampler": spec.label, "ours": True, "nfe": None, "steps": None,
               "actual_nfe": None if error else result[1], "error": error}
        row.update(metrics(result[0]) if result else {})
        rows.append(row)
    return rows


def analytic_setup(case: AnalyticCase, seed: int) -> Setup:
    latent = torch.zeros(case.batch, *case.sample_shape)
    return make_setup(analytic_model(case.flow, case.sample_shape[0]), empty_conditioning(), latent, seed)


def analytic_generation(case: AnalyticCase, setup: Setup, cfg: Config) -> list[dict]:
    reference = reference_solution(case, setup.noise())
    modes = nearest_mode(case, reference)
    metrics = lambda x: {"rmse": rmse(x, reference), "wrong_mode": wrong_mode_share(case, x, modes)}  # noqa: E731
    tag = {"case": case.name, "data_rms": rmse(reference, torch.zeros_like(reference))}
    specs = our_specs(include_sde=False) + builtin_specs()
    from ._solver_learned import learned_rows  # imports this module

    return (generation_sweep(setup, specs, cfg.nfes, metrics, tag) + adaptive_rows(setup, metrics, tag)
            + learned_rows(setup, metrics, tag, cfg.nfes, cfg.learned_iterations, cfg.learned_reference_steps))


# ---------------------------------------------------------------------------------------------- inversion sweep

def inversion_row(setup: Setup, case: AnalyticCase, spec: SamplerSpec, sigmas, data, exact_noise, tag: dict) -> dict:
    result, error = attempt(round_trip, setup, spec.build(), sigmas, data)
    row = {**tag, "sampler": spec.label, "ours": spec.ours, "actual_nfe": None if error else result[2],
           "error": error}
    if result:
        row.update({"round_trip_rmse": rmse(result[1], data), "inversion_rmse": rmse(result[0], exact_noise)})
        row["wrong_mode"] = wrong_mode_share(case, result[1], nearest_mode(case, data))
    return row


def analytic_inversion(case: AnalyticCase, setup: Setup, cfg: Config) -> list[dict]:
    """Round trips for every ODE solver of ours and schedule; ComfyUI's euler once, to show it cannot invert."""
    data = data_samples(case, cfg.seed + 1)
    exact_noise = case.flow.reference_solve(data.double().flatten(1), 0.0, 1.0).reshape(data.shape)
    rows = []
    for schedule in SCHEDULES:
        for spec in our_specs(include_sde=False):
            for nfe in cfg.nfes:
                steps = spec.steps_for(nfe)
                if steps >= 1:
                    tag = {"case": case.name, "schedule": schedule, "nfe": nfe, "steps": steps}
                    rows.append(inversion_row(setup, case, spec, setup.sigmas(schedule, steps), data, exact_noise, tag))
    for spec in [adaptive_spec(rtol) for rtol in ADAPTIVE_RTOLS]:
        tag = {"case": case.name, "schedule": "adaptive", "nfe": None, "steps": None}
        rows.append(inversion_row(setup, case, spec, setup.sigmas("default", 1), data, exact_noise, tag))
    comfy_euler = builtin_specs()[0]
    steps = max(cfg.nfes) // 4
    tag = {"case": case.name, "schedule": "default", "nfe": steps, "steps": steps, "attempt_only": True}
    rows.append(inversion_row(setup, case, comfy_euler, setup.sigmas("default", steps), data, exact_noise, tag))
    return rows


# ------------------------------------------------------------------------------------------------------ timing

def overhead_timing(setup: Setup, cfg: Config) -> list[dict]:
    """Seconds per model call of each fixed-step sampler against ComfyUI's euler at the same NFE budget on digits:
    median over interleaved repeats (order rotated each round), uncounted model."""
    specs = [builtin_specs()[0]] + our_specs(include_sde=True)
    runs = {}
    for spec in specs:  # warm-up and actual NFE (counted once)
        sigmas = setup.sigmas("default", spec.steps_for(cfg.timing_nfe))
        runs[spec.label] = (spec.build(), sigmas, generate(setup, spec.build(), sigmas)[1])
    seconds = {spec.label: [] for spec in specs}
    labels = list(runs)
    for r in range(cfg.timing_repeats):
        for label in labels[r % len(labels):] + labels[:r % len(labels)]:
            sampler, sigmas, _ = runs[label]
            start = time.perf_counter()
            generate(setup, sampler, sigmas, counted=False)
            seconds[label].append(time.perf_counter() - start)
    base = statistics.median(seconds["comfyui/euler"]) / runs["comfyui/euler"][2]
    return [{"sampler": label, "actual_nfe": runs[label][2], "median_seconds": statistics.median(seconds[label]),
             "seconds_per_call": statistics.median(seconds[label]) / runs[label][2],
             "ratio_vs_comfyui_euler": statistics.median(seconds[label]) / runs[label][2] / base,
             "all_seconds": seconds[label]} for label in labels]
