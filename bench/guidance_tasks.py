"""Guidance tasks that separate the laws: distance to the true class-conditional distribution, per class.

    .venv/bin/python -P -m rectiflow.bench.guidance_tasks [--samples 2000] [--digits-per-label 8] [--quick]

On the ring mixture and on digits every law reaches precision ~ 1, so precision alone cannot rank them. Each task
here also measures how far each class's samples are from that class's true distribution (Frechet distance between
Gaussian fits, Heusel et al. 2017, arXiv:1706.08500), beside precision, overshoot and diversity, for every law of
bench/guidance.py's guider_settings at 10 and 30 RectiFlow Euler steps through SamplerCustomAdvanced:

1. ring: bench/guidance.py's mixture (8 components on a radius-2 ring, std 0.55, class c = components c, c + 4).
2. overlap: the same ring with std 0.9 (neighbours 1.7 std apart) and within-class weights 2:1, so classes overlap
   much more (exact precision ~ 0.61) and guidance can also shift mass between a class's two components.
   For both mixtures the class-conditional mean and covariance are exact (GaussianMixtureFlow.moments).
3. digits: the embedded digits model; per-class Frechet in the classifier's 128-d features to the real digits of
   that class, with the real-vs-real floor at the same sample size (the bias of small samples).

Writes bench/out/guidance_tasks.json and bench/out/guidance_tasks_pareto.png, prints markdown tables and (full run
only) replaces the "guidance tasks" section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

from rectiflow.models.analytic_flows import GaussianMixtureFlow
from rectiflow.testing.comfy_host import REPO, boot_comfyui

from ._guidance_digits import DIGIT_WEIGHTS, digits_reference, digits_task_sweep
from ._plots import line_chart, save_grid
from ._report import write_section
from ._solver_digits import frechet_distance
from .guidance import (COLOURS, OUT, RING, WEIGHTS, MixtureTask, class_components, exact_samples, mixture_metrics,
                       mixture_sweep, ring_means)

COMMAND = ".venv/bin/python -P -m rectiflow.bench.guidance_tasks"
STEPS = (10, 30)
OVERLAP = MixtureTask(ring_means(), 0.9, class_components((2.0, 1.0)))
TASKS = {"ring": RING, "overlap": OVERLAP}
EXTRA_CFG_WEIGHTS = (1.0, 1.5, 2.0, 5.0)      # a denser plain-CFG frontier on the mixtures' Pareto panels


def class_moments(task: MixtureTask) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Exact (mean [2], covariance [2, 2]) of each class-conditional distribution of the mixture."""
    return [GaussianMixtureFlow(task.means, task.std, weights=task.table[c]).moments() for c in range(task.classes)]


def per_class_frechet(samples: torch.Tensor, labels: torch.Tensor, moments) -> list[float]:
    return [frechet_distance(samples[labels == c].double(), mean, cov) for c, (mean, cov) in enumerate(moments)]


def spread_ratio(samples: torch.Tensor, labels: torch.Tensor, moments) -> float:
    """Mean over classes of sqrt(tr C_samples / tr C_exact): 1 is the true within-class spread, < 1 collapsed."""
    ratios = [(torch.cov(samples[labels == c].double().T).trace() / cov.trace()).sqrt()
              for c, (_, cov) in enumerate(moments)]
    return float(torch.stack(ratios).mean())


def task_metrics(task: MixtureTask):
    """metrics(samples, labels): bench/guidance.py's precision, overshoot and coverage, plus the exact per-class
    Frechet distance (mean over classes and the worst class) and the within-class spread ratio."""
    moments = class_moments(task)

    def metrics(samples: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
        samples = samples.reshape(samples.shape[0], 2)
        frechet = per_class_frechet(samples, labels, moments)
        return {**mixture_metrics(samples, labels, task), "frechet": sum(frechet) / len(frechet),
                "frechet_worst": max(frechet), "spread": spread_ratio(samples, labels, moments)}
    return metrics


def mixture_task_rows(name: str, task: MixtureTask, samples: int, weights) -> tuple[dict, list[dict]]:
    """(exact samples' metrics: the floor at this sample size, every guider's rows) on one mixture task."""
    labels = torch.arange(samples) % task.classes
    metrics = task_metrics(task)
    exact = {k: round(v, 4) for k, v in metrics(exact_samples(labels, seed=0, task=task), labels).items()}
    sweep = mixture_sweep(samples, STEPS, weights, task=task, metrics=metrics, extra_cfg=EXTRA_CFG_WEIGHTS,
                          inspect=False)
    rows = [{"task": name, **row} for row in sweep]
    print(f"{name}: done", flush=True)
    return exact, rows


# ---------------------------------------------------------------------------------------------
# Plot and tables
# ---------------------------------------------------------------------------------------------

def pareto_panel(rows: list[dict], task: str, steps: int, reference: dict):
    chosen = sorted((r for r in rows if r["task"] == task and r["steps"] == steps), key=lambda r: r["w"])
    point = lambda r: (max(r["frechet"], 1e-4), r["precision"])                 # noqa: E731
    series = {name: [point(r) for r in chosen if r["guider"] == name] for name in COLOURS}
    label = "real" if task == "digits" else "exact"
    return line_chart(f"{task}, {steps} steps: precision (up) vs per-class Frechet (left is closer)", series,
                      "mean per-class Frechet", "precision", log_x=True, log_y=False, colours=COLOURS,
                      labelled_points={label: point(reference)})


def save_pareto(rows: list[dict], references: dict) -> Path:
    panels = [pareto_panel(rows, task, steps, references[task]) for task in references for steps in STEPS]
    return save_grid(panels, OUT / "guidance_tasks_pareto.png", columns=len(STEPS))


def cell(row: dict, digits: bool) -> list[str]:
    if digits:
        overshoot = f"{row['beyond_1p1']:.3f} / {row['excess']:.3f}"
        spread = f"{row['diversity']:.3f}"
    else:
        overshoot, spread = f"{row['overshoot']:.3f}", f"{row['spread']:.2f} / {row['coverage']:.2f}"
    return [f"{row['precision']:.3f}", f"{row['frechet']:.3g} / {row['frechet_worst']:.3g}", overshoot, spread]


def task_table(rows: list[dict], task: str, reference: dict) -> str:
    digits = task == "digits"
    heads = ["precision", "Frechet mean / worst", "overshoot share / excess" if digits else "overshoot",
             "diversity" if digits else "spread / coverage"]
    columns = ["law", "w"] + [f"{s} st. {h}" for s in STEPS for h in heads]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines.append(f"| {'real' if digits else 'exact'} | - | " + " | ".join(cell(reference, digits) * len(STEPS)) + " |")
    names = list(dict.fromkeys(r["guider"] for r in rows if r["task"] == task))
    for name in names:
        for w in sorted({r["w"] for r in rows if r["task"] == task and r["guider"] == name}):
            by_steps = [find(rows, task=task, guider=name, w=w, steps=s) for s in STEPS]
            if all(by_steps):
                lines.append(f"| {name} | {w:g} | " + " | ".join(c for r in by_steps for c in cell(r, digits)) + " |")
    return "\n".join(lines)


def find(rows, **match):
    return next((r for r in rows if all(r[k] == v for k, v in match.items())), None)


def smc_vs_cfg(rows: list[dict], tasks_weights: dict) -> list[str]:
    """SMC-CFG against CFG at equal w: less overshoot with precision within 0.5 points?"""
    lines = []
    for task, weights in tasks_weights.items():
        key = "excess" if task == "digits" else "overshoot"
        for w in weights:
            for steps in STEPS:
                smc, cfg = (find(rows, task=task, guider=g, w=w, steps=steps) for g in ("SMC-CFG", "CFG"))
                if smc is None or cfg is None:
                    continue
                less = smc[key] < cfg[key]
                close = abs(smc["precision"] - cfg["precision"]) <= 0.005
                lines.append(f"{task} w {w:g}, {steps} steps: SMC-CFG {key} {smc[key]:.4f} vs CFG {cfg[key]:.4f}, "
                             f"precision {smc['precision']:.3f} vs {cfg['precision']:.3f}, Frechet {smc['frechet']:.3g}"
                             f" vs {cfg['frechet']:.3g}: {'yes' if less and close else 'no'}")
    return lines


def best_frechet(rows: list[dict], task: str, steps: int, min_precision: float = 0.99) -> str:
    """The three runs closest to the true class distribution among the precise ones (the Pareto question)."""
    ranked = sorted((r for r in rows if r["task"] == task and r["steps"] == steps
                     and r["precision"] >= min_precision), key=lambda r: r["frechet"])
    return ", ".join(f"{r['guider']} w {r['w']:g} ({r['frechet']:.3g}, P {r['precision']:.3f})" for r in ranked[:3])


def report(rows: list[dict], references: dict, tasks_weights: dict, settings: str) -> str:
    parts = [settings]
    for task, weights in tasks_weights.items():
        parts.append(f"**{task}**\n\n" + task_table(rows, task, references[task]))
    parts.append("Lowest mean per-class Frechet among runs with precision >= 0.99:\n\n" + "\n".join(
        f"- {task}, {steps} steps: {best_frechet(rows, task, steps)}" for task in tasks_weights for steps in STEPS))
    parts.append("SMC-CFG (defaults) vs CFG at equal w, 'yes' = less overshoot with precision within 0.5 points:\n\n"
                 + "\n".join(f"- {line}" for line in smc_vs_cfg(rows, tasks_weights)))
    return "\n\n".join(parts)


def floor_table(floor_rows: list[dict]) -> str:
    lines = ["| real digits vs half B | precision | Frechet mean / worst | diversity |", "|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['precision']:.3f} | {r['frechet']:.3g} / {r['frechet_worst']:.3g} | "
              f"{r['diversity']:.3f} |" for r in floor_rows]
    return "\n".join(lines)


def finish(result: dict, write_docs: bool) -> None:
    """Plot, tables and (full runs) the docs section, from the saved result."""
    args, references, rows = result["args"], result["references"], result["rows"]
    tasks_weights = {"ring": args["weights"], "overlap": args["weights"], "digits": args["digit_weights"]}
    plot = save_pareto(rows, references)
    settings = (f"{args['samples']} samples per mixture run ({args['samples'] // 4} per class), "
                f"{10 * args['per_label']} digits per run ({args['per_label']} per class); w "
                f"{', '.join(f'{w:g}' for w in args['weights'])} on the mixtures (plus CFG at "
                f"{', '.join(f'{w:g}' for w in EXTRA_CFG_WEIGHTS)} on the plot), "
                f"{', '.join(f'{w:g}' for w in args['digit_weights'])} on digits (plus CFG 1 and 6); RectiFlow Euler, "
                f"`simple` schedule; {result['seconds']} s on this machine. Rows: law, w; cells at 10 and 30 steps. "
                f"Mixtures: Frechet to the exact class-conditional moments, spread = sqrt(tr C / tr C_exact). Digits: "
                f"Frechet in the classifier's 128-d features to half B of each class's real digits; overshoot = share"
                f" of pixels beyond +-1.1 / mean of max(|x| - 1, 0).\n\n{floor_table(result['digits_floor'])}")
    markdown = report(rows, references, tasks_weights, settings)
    print(markdown)
    if write_docs:
        write_section("guidance tasks", result["command"], f"![guidance tasks Pareto](guidance_tasks_pareto.png)"
                      f"\n\n{markdown}")
        shutil.copyfile(plot, REPO / "docs" / "guidance_tasks_pareto.png")
    print(f"\nwrote {OUT / 'guidance_tasks.json'} and {plot} in {result['seconds']} s")


def run(args, result: dict) -> dict:
    """Every task in turn; the JSON is saved after each one, so a long run keeps what it finished."""
    start, path = time.perf_counter(), OUT / "guidance_tasks.json"

    def save():
        result["seconds"] = round(result.get("seconds_before", 0) + time.perf_counter() - start, 1)
        path.write_text(json.dumps(result, indent=1))
    for name, task in TASKS.items():
        if name in result["references"]:            # kept from a saved run (--digits-only)
            continue
        result["references"][name], task_rows = mixture_task_rows(name, task, result["args"]["samples"],
                                                                   result["args"]["weights"])
        result["rows"] += task_rows
        save()
    result["references"]["digits"], result["digits_floor"] = digits_reference(result["args"]["per_label"])
    mixture_rows = list(result["rows"])

    def save_digits(rows):
        result["rows"] = mixture_rows + rows
        save()
    digits_task_sweep(result["args"]["per_label"], STEPS, result["args"]["digit_weights"], on_rows=save_digits)
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="mixture samples per configuration (4 classes)")
    parser.add_argument("--digits-per-label", type=int, default=8, help="generated digits per class per run")
    parser.add_argument("--digit-weights", type=float, nargs="+", default=list(DIGIT_WEIGHTS))
    parser.add_argument("--quick", action="store_true", help="a smoke run: w 3 only, few samples, no docs update")
    parser.add_argument("--report-only", action="store_true", help="rebuild plot and tables from the saved JSON")
    parser.add_argument("--digits-only", action="store_true",
                        help="keep the saved JSON's mixture results and rerun the digits task")
    args = parser.parse_args(argv)
    if args.report_only:
        return finish(json.loads((OUT / "guidance_tasks.json").read_text()), write_docs=True)
    settings = {"samples": args.samples, "per_label": args.digits_per_label, "weights": list(WEIGHTS),
                "digit_weights": args.digit_weights}
    if args.quick:
        settings = {"samples": 400, "per_label": 2, "weights": [3.0], "digit_weights": [3.0]}
    command = " ".join([COMMAND, *(argv or [])])
    boot_comfyui()
    OUT.mkdir(parents=True, exist_ok=True)
    result = {"command": command, "args": settings, "references": {}, "digits_floor": [], "rows": []}
    if args.digits_only:
        saved = json.loads((OUT / "guidance_tasks.json").read_text())
        result["references"] = {k: v for k, v in saved["references"].items() if k in TASKS}
        result["rows"] = [r for r in saved["rows"] if r["task"] in TASKS]
        result["args"] = {**saved["args"], "per_label": args.digits_per_label, "digit_weights": args.digit_weights}
        result["command"] = f"{saved['command']} (digits: {command})"
        result["seconds_before"] = saved["seconds"]
    result = run(args, result)
    finish(result, write_docs=not args.quick)


if __name__ == "__main__":
    main(sys.argv[1:])
