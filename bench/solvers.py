"""Solver benchmark: RectiFlow flow solvers and schedules against ComfyUI's built-in samplers, at equal NFE.

    OMP_NUM_THREADS=1 .venv/bin/python -P -m rectiflow.bench.solvers   # full run (about 15 min, one thread)
    .venv/bin/python -P -m rectiflow.bench.solvers --quick    # smoke run (writes solvers_quick.* instead)

Every run goes through ComfyUI's real path: BasicGuider + SamplerCustomAdvanced + a SAMPLER from
RectiFlowSamplerSelect (ours) or KSamplerSelect (built-ins), sigmas from BasicScheduler "simple" (ComfyUI's default
for flow models) or RectiFlowOptimalSteps (ours, BOSS on one fine Heun reference from
RectiFlowReferenceTrajectory, same seed).
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
import io
import json
import math
import sys
import time
from pathlib import Path

import torch

from rectiflow.testing.comfy_host import REPO, boot_comfyui

from ._plots import line_chart, save_grid
from ._report import write_section
from ._solver_cases import FULL, QUICK, SCHEDULES, Config, analytic_cases
from ._solver_digits import digits_generation, digits_setup
from ._solver_learned import LEARNED_NFES, learned_goal
from ._solver_runs import analytic_generation, analytic_inversion, analytic_setup, overhead_timing

OUT = REPO / "bench" / "out"


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
    panels = [line_chart(f"{case}: terminal RMSE, {schedule} schedule", series(select(rows, schedule=schedule)
              + select(rows, schedule="learned"), "rmse"), "actual NFE", "RMSE", dashed=dashed)
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
        print("\n" + learned_table(rows, cfg))
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
    print("\n" + learned_table(digit_rows, cfg))
    print("\n" + simple_table(timings, [("sampler", "sampler"), ("actual NFE", "actual_nfe"),
                                        ("median s", "median_seconds"), ("s per call", "seconds_per_call"),
                                        ("ratio vs comfyui/euler", "ratio_vs_comfyui_euler")],
                              f"wall time per model call on digits ({cfg.timing_repeats} repeats, median)"))
    print_goals(goals)


def learned_table(rows: list[dict], cfg: Config) -> str:
    return grid_table(select(rows, schedule="learned"), [n for n in cfg.nfes if n in LEARNED_NFES],
                      lambda r: fmt(r["rmse"]), "learned solver (RectiFlowLearnSolver on its own sigmas, fitted on "
                      f"other noises: {cfg.learned_iterations} iterations, {cfg.learned_reference_steps} RK4 reference "
                      "steps)")


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
    print("\n" + simple_table(goals["learned"], [
        ("case", "case"), ("NFE", "nfe"), ("learned RMSE", "learned_rmse"), ("train RMSE", "train_rmse"),
        ("validation RMSE", "val_rmse"), ("best ComfyUI (default)", "comfyui_default"), ("ratio", "ratio_default"),
        ("best ComfyUI (optimal steps)", "comfyui_optimal"), ("ratio", "ratio_optimal"), ("met", "met"),
        ("fit s", "fit_seconds"), ("fit model calls per sample", "fit_model_calls")],
        "learned solver vs ComfyUI's best built-in on each schedule (goal: ratio <= 0.5 on both); train and "
        "validation RMSE are the node's own, against its RK4 reference on training and held-out noises"))
    t = goals["overhead"]
    print(f"\noverhead: rectiflow/euler vs comfyui/euler per model call = {t['ratio']:.3f} (goal <= 1.03): "
          f"{'met' if t['met'] else 'not met'}")


def collect_goals(gen_rows, inv_rows, digit_rows, timings, cfg: Config) -> dict:
    goal_nfes = [n for n in (4, 8) if n in cfg.nfes]
    generation = [generation_goal(gen_rows + digit_rows, case, n)
                  for case in ("2d", "latent4x32x32", "digits") for n in goal_nfes]
    inversion = [inversion_goal(inv_rows, case, n) for case in ("2d", "latent4x32x32") for n in cfg.nfes]
    ratio = select(timings, sampler="rectiflow/euler")[0]["ratio_vs_comfyui_euler"]
    learned = [learned_goal(gen_rows + digit_rows, case, n) for case in ("2d", "latent4x32x32", "digits")
               for n in goal_nfes]
    return {"generation": generation, "inversion": inversion, "learned": learned, "overhead": {"ratio": ratio, "met": ratio <= 1.03}}


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
    if name == "solvers":
        write_section("solvers", ".venv/bin/python -P -m rectiflow.bench.solvers", report.getvalue())
    plots = save_plots(gen_rows, inv_rows, digit_rows, name)
    result = {"config": dataclasses.asdict(cfg), "torch_threads": torch.get_num_threads(),
              "seconds": time.perf_counter() - start, "generation": gen_rows, "inversion": inv_rows,
              "digits": digit_rows, "digits_references": baselines, "timing": timings, "goals": goals}
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1, default=str))
    print(f"wrote bench/out/{name}.json, bench/out/{name}.md (these tables), " + ", ".join(str(p.relative_to(REPO)) for p in plots)
          + f" in {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
