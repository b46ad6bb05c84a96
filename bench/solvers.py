"""Solver benchmark: RectiFlow flow solvers and schedules against ComfyUI's built-in samplers, at equal NFE.

    .venv/bin/python bench/solvers.py            # full run (about 6 min on 2 CPU cores)
    .venv/bin/python bench/solvers.py --quick    # smoke run (about 40 s; writes solvers_quick.* instead)

Every run goes through ComfyUI's real path: BasicGuider + SamplerCustomAdvanced + a SAMPLER from
RectiFlowSamplerSelect (ours) or KSamplerSelect (built-ins), sigmas from BasicScheduler "simple" (ComfyUI's default
for flow models) or RectiFlowOptimalSteps (ours, BOSS on a cached fine Heun reference from the same seed).
Steps = NFE budget // calls per step; model calls are counted by a unet wrapper and reported as actual NFE.

1. Analytic Gaussian mixtures wrapped as ComfyUI flow MODELs with the exact velocity (2-D, 4 modes; and
   4x32x32 latents, 8 modes): terminal RMSE against a float64 RK4 reference solve from the same noise.
2. Inversion round trip on exact mixture samples: RectiFlowInvert, then SamplerCustomAdvanced with its NOISE;
   RMSE of the regenerated data. ComfyUI's samplers cannot integrate 0 -> 1 (their first step divides by
   sigma = 0), so the Euler baseline is RectiFlow's flow Euler inverted (attempted once with ComfyUI's euler too).
3. Digits model (BasicGuider, labels 0-9): classifier accuracy, Frechet distance in the classifier's features
   against the real dataset, and RMSE against a tight adaptive solve (rtol 1e-4) from the same noise.
4. Wall time per model call against ComfyUI's euler on the digits model (median of interleaved repeats).

Writes bench/out/solvers.json, bench/out/solvers.md (the printed markdown tables and goal verdicts) and
bench/out/solvers_{rmse,inversion,digits}.png.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import importlib.util
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import conftest  # noqa: E402,F401  (makes the pack importable as `rectiflow`)
from comfy_host import boot_comfyui, pack_module, run_node  # noqa: E402

from _analytic_model import (AnalyticCase, analytic_cases, analytic_model, counting_model,  # noqa: E402
                             data_samples, empty_conditioning, reference_solution)
from _digits import digits_inputs  # noqa: E402
from _plots import line_chart, save_grid  # noqa: E402

OUT = ROOT / "bench" / "out"
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


FULL = Config(nfes=(2, 3, 4, 6, 8, 12, 16, 32), points_2d=256, latents=16, digits_per_label=10, timing_nfe=16,
              timing_repeats=7)
QUICK = Config(nfes=(2, 4, 8), points_2d=64, latents=2, digits_per_label=2, timing_nfe=8, timing_repeats=3)


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
    return run_node("RectiFlowOptimalSteps", guider=setup.guider, latent_image=setup.latent, noise_seed=setup.seed,
                    fine_steps=OPTIMAL_FINE_STEPS, steps=steps)[0]


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


def nearest_mode(case: AnalyticCase, x: torch.Tensor) -> torch.Tensor:
    """[B] index of the mixture mean nearest to each sample."""
    return torch.cdist(x.double().flatten(1), case.flow.means).argmin(dim=1)


def wrong_mode_share(case: AnalyticCase, x: torch.Tensor, reference_modes: torch.Tensor) -> float:
    """Share of samples that land nearest to another mode than the reference solution (RMSE ~ mode spacing)."""
    return float((nearest_mode(case, x) != reference_modes).double().mean())


def analytic_setup(case: AnalyticCase, seed: int) -> Setup:
    latent = torch.zeros(case.batch, *case.sample_shape)
    return make_setup(analytic_model(case), empty_conditioning(), latent, seed)


def analytic_generation(case: AnalyticCase, setup: Setup, cfg: Config) -> list[dict]:
    reference = reference_solution(case, setup.noise())
    modes = nearest_mode(case, reference)
    metrics = lambda x: {"rmse": rmse(x, reference), "wrong_mode": wrong_mode_share(case, x, modes)}  # noqa: E731
    tag = {"case": case.name, "data_rms": rmse(reference, torch.zeros_like(reference))}
    specs = our_specs(include_sde=False) + builtin_specs()
    return generation_sweep(setup, specs, cfg.nfes, metrics, tag) + adaptive_rows(setup, metrics, tag)


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


# ------------------------------------------------------------------------------------------------------ digits

@functools.cache
def load_digit_dataset() -> torch.Tensor:
    """All 1,797 real digits [N, 1, 16, 16] in [-1, 1], exactly as scripts/train_digits.py's load_dataset."""
    spec = importlib.util.spec_from_file_location("rectiflow_train_digits", ROOT / "scripts" / "train_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load_dataset()[0]


@dataclass
class DigitsJudge:
    """Classifier accuracy, Frechet distance to the real data in classifier features, RMSE to a fine solution."""
    classifier: torch.nn.Module
    labels: torch.Tensor
    data_mean: torch.Tensor
    data_cov: torch.Tensor
    reference: torch.Tensor | None = None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.classifier.features(images.float().clamp(-1, 1)).double()

    def __call__(self, images: torch.Tensor) -> dict:
        features = self.features(images)
        with torch.no_grad():
            predicted = self.classifier.head(features.float()).argmax(dim=1)
        row = {"accuracy": float((predicted == self.labels).float().mean()),
               "frechet": frechet_distance(features, self.data_mean, self.data_cov)}
        if self.reference is not None:
            row["rmse"] = rmse(images, self.reference)
        return row


def frechet_distance(features: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(C_a + C_b - 2 (C_a C_b)^(1/2)) between Gaussian fits (Heusel et al. 2017)."""
    import scipy.linalg

    mu, c = features.mean(0), torch.cov(features.T)
    root = scipy.linalg.sqrtm((c @ cov).numpy()).real
    return float((mu - mean).pow(2).sum() + torch.trace(c + cov) - 2 * float(root.trace()))


def digits_setup(cfg: Config) -> Setup:
    model, conditioning, _, latent = digits_inputs(cfg.digits_per_label)
    return make_setup(model, conditioning, latent["samples"], cfg.seed)


def digits_judge(setup: Setup, cfg: Config) -> DigitsJudge:
    digits = pack_module("models.digits")
    classifier = digits.load_digits_classifier(ROOT / "weights" / "digits_classifier.safetensors")
    labels = torch.arange(10).repeat(cfg.digits_per_label)
    judge = DigitsJudge(classifier, labels, torch.zeros(1), torch.zeros(1))
    data_features = judge.features(load_digit_dataset())
    judge.data_mean, judge.data_cov = data_features.mean(0), torch.cov(data_features.T)
    return judge


def digits_baselines(setup: Setup, judge: DigitsJudge, cfg: Config) -> list[dict]:
    """A tight adaptive solve (the RMSE reference) and real digits (the Frechet floor at this sample size).

    Adaptive Bogacki-Shampine at rtol 1e-4 (about 240 calls) is within 5e-4 RMSE of rtol 1e-5 on this model;
    RK4 with 32 steps is not (4e-3: its last step into sigma 0 is an Euler step), so it cannot be the reference.
    """
    spec = adaptive_spec(DIGITS_REFERENCE_RTOL)
    fine, nfe = generate(setup, spec.build(), setup.sigmas("default", 1))
    judge.reference = fine
    gen = torch.Generator().manual_seed(cfg.seed)
    real = load_digit_dataset()[torch.randperm(1797, generator=gen)[:setup.batch]]
    real_row = {"case": "digits", "sampler": f"real digits ({setup.batch})", "frechet":
                frechet_distance(judge.features(real), judge.data_mean, judge.data_cov)}
    return [{"case": "digits", "sampler": f"reference: {spec.label}", "schedule": "adaptive", "actual_nfe": nfe,
             **judge(fine)}, real_row]


def digits_generation(setup: Setup, cfg: Config) -> tuple[list[dict], list[dict]]:
    judge = digits_judge(setup, cfg)
    baselines = digits_baselines(setup, judge, cfg)
    specs = our_specs(include_sde=True) + builtin_specs()
    return generation_sweep(setup, specs, cfg.nfes, judge, {"case": "digits"}), baselines


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


# ------------------------------------------------------------------------------------------------------ tables

def fmt(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "nan"
    return f"{value:.{digits}e}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.{digits + 1}g}"


def cell(row: dict | None, metric) -> str:
    """Metric text, with the actual NFE in parentheses where it differs from the budget; 'fail' on errors."""
    if row is None:
        return ""
    if row.get("error"):
        return "fail"
    text = metric(row)
    actual = row.get("actual_nfe")
    if actual is not None and row.get("nfe") is not None and abs(actual - row["nfe"]) > 1e-9:
        text += f" ({actual:g})"
    return text


def grid_table(rows: list[dict], nfes, metric, title: str) -> str:
    """Markdown table, one line per sampler, one column per NFE budget."""
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    lines = [f"**{title}**", "", "| sampler | " + " | ".join(f"NFE {n}" for n in nfes) + " |",
             "|---|" + "---|" * len(nfes)]
    for s in samplers:
        by_nfe = {r["nfe"]: r for r in rows if r["sampler"] == s}
        lines.append(f"| {s} | " + " | ".join(cell(by_nfe.get(n), metric) for n in nfes) + " |")
    return "\n".join(lines)


def simple_table(rows: list[dict], columns: list[tuple[str, str]], title: str) -> str:
    lines = [f"**{title}**", "", "| " + " | ".join(h for h, _ in columns) + " |", "|---" * len(columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(k, "")) if not isinstance(r.get(k), float) else fmt(r[k])
                                       for _, k in columns) + " |")
    return "\n".join(lines)


def select(rows: list[dict], **match) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


# ------------------------------------------------------------------------------------------------------- goals

def best(rows: list[dict], metric: str, **match) -> dict | None:
    ok = [r for r in select(rows, **match) if not r.get("error") and r.get(metric) is not None
          and math.isfinite(r[metric])]
    return min(ok, key=lambda r: r[metric]) if ok else None


def generation_goal(rows: list[dict], case: str, nfe: int) -> dict:
    """Our best solver on optimal steps against ComfyUI's best built-in on its default schedule (goal: <= 0.5)."""
    ode = [r for r in rows if r["sampler"] != "rectiflow/sde"]  # stochastic: not an ODE solution
    ours = best(ode, "rmse", case=case, nfe=nfe, schedule="optimal", ours=True)
    theirs = best(ode, "rmse", case=case, nfe=nfe, schedule="default", ours=False)
    ratio = ours["rmse"] / theirs["rmse"] if ours and theirs else None
    ours_default = best(ode, "rmse", case=case, nfe=nfe, schedule="default", ours=True)
    theirs_optimal = best(ode, "rmse", case=case, nfe=nfe, schedule="optimal", ours=False)
    return {"case": case, "nfe": nfe, "ours": ours and ours["sampler"], "ours_rmse": ours and ours["rmse"],
            "comfyui": theirs and theirs["sampler"], "comfyui_rmse": theirs and theirs["rmse"], "ratio": ratio,
            "met": ratio is not None and ratio <= 0.5,
            "ours_default": ours_default and f"{ours_default['sampler']} {fmt(ours_default['rmse'])}",
            "comfyui_optimal": theirs_optimal and f"{theirs_optimal['sampler']} {fmt(theirs_optimal['rmse'])}"}


def inversion_goal(rows: list[dict], case: str, nfe: int) -> dict:
    """Our best round trip (any solver and schedule) against Euler inversion (RectiFlow's flow Euler: ComfyUI's own
    euler cannot start at sigma 0) on the better of its two schedules."""
    euler = best(rows, "round_trip_rmse", case=case, nfe=nfe, sampler="rectiflow/euler")
    ours = best([r for r in rows if not r.get("attempt_only")], "round_trip_rmse", case=case, nfe=nfe, ours=True)
    gain = euler["round_trip_rmse"] / ours["round_trip_rmse"] if euler and ours else None
    return {"case": case, "nfe": nfe, "ours": ours and f"{ours['sampler']} ({ours['schedule']})",
            "ours_rmse": ours and ours["round_trip_rmse"], "euler_rmse": euler and euler["round_trip_rmse"],
            "euler_schedule": euler and euler["schedule"], "gain": gain, "met": gain is not None and gain >= 10}


# ------------------------------------------------------------------------------------------------------- plots

def series(rows: list[dict], metric: str, x: str = "actual_nfe") -> dict[str, list[tuple[float, float]]]:
    out: dict[str, list] = {}
    for r in rows:
        if not r.get("error") and not r.get("attempt_only") and r.get(metric) is not None and r.get(x) is not None:
            out.setdefault(r["sampler"], []).append((r[x], r[metric]))
    return out


def save_plots(gen_rows, inv_rows, digit_rows, name: str) -> list[Path]:
    dashed = {r["sampler"] for r in gen_rows + digit_rows if not r.get("ours")}
    panels = [line_chart(f"{case}: terminal RMSE, {schedule} schedule", series(select(rows, schedule=schedule),
              "rmse"), "actual NFE", "RMSE", dashed=dashed)
              for case, rows in (("2d", select(gen_rows, case="2d")),
                                 ("latent4x32x32", select(gen_rows, case="latent4x32x32")),
                                 ("digits (vs reference solve)", digit_rows))
              for schedule in SCHEDULES]
    inv = [line_chart(f"{case}: inversion round-trip RMSE, {schedule}", series(
        select(inv_rows, case=case, schedule=schedule), "round_trip_rmse"), "actual NFE per direction", "RMSE")
        for case in ("2d", "latent4x32x32") for schedule in SCHEDULES]
    dig = [line_chart(f"digits: {name}, {schedule} schedule", series(select(digit_rows, schedule=schedule), metric),
                      "actual NFE", name, log_y=metric == "frechet", dashed=dashed)
           for metric, name in (("accuracy", "accuracy"), ("frechet", "Frechet distance")) for schedule in SCHEDULES]
    return [save_grid(panels, OUT / f"{name}_rmse.png"), save_grid(inv, OUT / f"{name}_inversion.png"),
            save_grid(dig, OUT / f"{name}_digits.png")]


# -------------------------------------------------------------------------------------------------------- main

def print_report(gen_rows, inv_rows, digit_rows, baselines, timings, goals, cfg: Config) -> None:
    e = lambda k: (lambda r: fmt(r[k]))  # noqa: E731
    print("\nCells: metric at the NFE budget; (n) = actual model calls per sample where they differ from the budget "
          "(steps = budget // calls per step); empty = not even one step fits; fail = the sampler raised.")
    for case in ("2d", "latent4x32x32"):
        rows = select(gen_rows, case=case)
        print(f"\n### {case}: terminal RMSE vs float64 reference (data RMS {rows[0]['data_rms']:.3f})\n")
        for schedule in SCHEDULES:
            print(grid_table(select(rows, schedule=schedule), cfg.nfes, e("rmse"), f"{schedule} schedule") + "\n")
        print(simple_table(select(rows, schedule="adaptive"), [("sampler", "sampler"), ("actual NFE", "actual_nfe"),
                                                               ("RMSE", "rmse")], "adaptive (sigmas [1, 0])"))
    for case in ("2d", "latent4x32x32"):
        rows = [r for r in select(inv_rows, case=case) if not r.get("attempt_only")]
        print(f"\n### {case}: inversion round-trip RMSE (RectiFlowInvert, then regenerate with its NOISE)\n")
        for schedule in SCHEDULES:
            print(grid_table(select(rows, schedule=schedule), cfg.nfes, e("round_trip_rmse"),
                             f"{schedule} schedule, NFE per direction") + "\n")
        print(simple_table(select(rows, schedule="adaptive"), [("sampler", "sampler"), ("NFE/direction", "actual_nfe"),
                           ("round trip", "round_trip_rmse"), ("inverted vs exact noise", "inversion_rmse")],
                           "adaptive"))
        for r in select(inv_rows, case=case, attempt_only=True):
            print(f"\n{r['sampler']} (ComfyUI's own) through RectiFlowInvert ({r['steps']} steps): {attempt_text(r)}")
    print("\n### digits: accuracy / Frechet distance (classifier features) / RMSE vs reference solve\n")
    print(simple_table(baselines, [("reference", "sampler"), ("actual NFE", "actual_nfe"), ("accuracy", "accuracy"),
                                   ("Frechet", "frechet")], "references"))
    acc_fd = lambda r: f"{r['accuracy']:.2f} / {r['frechet']:.3g}"  # noqa: E731
    for schedule in SCHEDULES:
        rows = select(digit_rows, schedule=schedule)
        print("\n" + grid_table(rows, cfg.nfes, acc_fd, f"accuracy / Frechet, {schedule} schedule"))
        print("\n" + grid_table(rows, cfg.nfes, e("rmse"), f"RMSE vs reference solve, {schedule} schedule"))
    print("\n" + simple_table(timings, [("sampler", "sampler"), ("actual NFE", "actual_nfe"),
                                        ("median s", "median_seconds"), ("s per call", "seconds_per_call"),
                                        ("ratio vs comfyui/euler", "ratio_vs_comfyui_euler")],
                              f"wall time per model call on digits ({cfg.timing_repeats} repeats, median)"))
    print_goals(goals)


def attempt_text(row: dict) -> str:
    if row.get("error"):
        return row["error"]
    if not math.isfinite(row["round_trip_rmse"]):
        return "non-finite output (its first step divides x - x0_hat = 0 by sigma = 0), so it cannot invert"
    return "round trip RMSE " + fmt(row["round_trip_rmse"])


def print_goals(goals: dict) -> None:
    print("\n### goals\n")
    print(simple_table(goals["generation"], [("case", "case"), ("NFE", "nfe"), ("ours (optimal steps)", "ours"),
                                             ("RMSE", "ours_rmse"), ("best ComfyUI (default)", "comfyui"),
                                             ("RMSE", "comfyui_rmse"), ("ratio (goal <= 0.5)", "ratio"),
                                             ("met", "met"), ("context: ours, default", "ours_default"),
                                             ("context: ComfyUI, optimal steps", "comfyui_optimal")],
                       "generation at NFE 4 and 8: our best on optimal steps vs ComfyUI's best on its default"))
    print("\n" + simple_table(goals["inversion"], [("case", "case"), ("NFE/direction", "nfe"), ("ours", "ours"),
                                                   ("round trip", "ours_rmse"), ("Euler inversion", "euler_rmse"),
                                                   ("Euler schedule", "euler_schedule"),
                                                   ("gain (goal >= 10)", "gain"), ("met", "met")],
                              "inversion round trip vs Euler inversion"))
    t = goals["overhead"]
    print(f"\noverhead: rectiflow/euler vs comfyui/euler per model call = {t['ratio']:.3f} (goal <= 1.03): "
          f"{'met' if t['met'] else 'not met'}")


def collect_goals(gen_rows, inv_rows, digit_rows, timings, cfg: Config) -> dict:
    goal_nfes = [n for n in (4, 8) if n in cfg.nfes]
    generation = [generation_goal(gen_rows + digit_rows, case, n)
                  for case in ("2d", "latent4x32x32", "digits") for n in goal_nfes]
    inversion = [inversion_goal(inv_rows, case, n) for case in ("2d", "latent4x32x32") for n in cfg.nfes]
    ratio = select(timings, sampler="rectiflow/euler")[0]["ratio_vs_comfyui_euler"]
    return {"generation": generation, "inversion": inversion, "overhead": {"ratio": ratio, "met": ratio <= 1.03}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer NFEs, points and repeats (~1 min)")
    args = parser.parse_args(argv)
    with torch.inference_mode():  # as ComfyUI's executor runs every node
        run(QUICK if args.quick else FULL, "solvers_quick" if args.quick else "solvers")


def run(cfg: Config, name: str) -> None:
    start = time.perf_counter()
    boot_comfyui()
    import comfy.utils
    comfy.utils.PROGRESS_BAR_ENABLED = False
    gen_rows, inv_rows = [], []
    for case in analytic_cases(cfg.points_2d, cfg.latents):
        setup = analytic_setup(case, cfg.seed)
        gen_rows += analytic_generation(case, setup, cfg)
        inv_rows += analytic_inversion(case, setup, cfg)
        print(f"[{time.perf_counter() - start:6.1f}s] {case.name} done", flush=True)
    setup = digits_setup(cfg)
    digit_rows, baselines = digits_generation(setup, cfg)
    print(f"[{time.perf_counter() - start:6.1f}s] digits done", flush=True)
    timings = overhead_timing(setup, cfg)
    print(f"[{time.perf_counter() - start:6.1f}s] timing done", flush=True)
    goals = collect_goals(gen_rows, inv_rows, digit_rows, timings, cfg)
    OUT.mkdir(parents=True, exist_ok=True)
    report = io.StringIO()
    with contextlib.redirect_stdout(report):
        print_report(gen_rows, inv_rows, digit_rows, baselines, timings, goals, cfg)
    print(report.getvalue())
    (OUT / f"{name}.md").write_text(report.getvalue())
    plots = save_plots(gen_rows, inv_rows, digit_rows, name)
    result = {"config": dataclasses.asdict(cfg), "torch_threads": torch.get_num_threads(),
              "seconds": time.perf_counter() - start, "generation": gen_rows, "inversion": inv_rows,
              "digits": digit_rows, "digits_references": baselines, "timing": timings, "goals": goals}
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote bench/out/{name}.json, bench/out/{name}.md (these tables), " + ", ".join(str(p.relative_to(ROOT)) for p in plots)
          + f" in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
