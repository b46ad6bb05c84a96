"""The learned solver (RectiFlowLearnSolver) in the solver benchmark: one fit per case and NFE budget on training
noises, then generation from the benchmark's own noise, which the fit never saw (bench/solvers.py)."""
from __future__ import annotations

import math
import time

from rectiflow.testing.comfy_host import run_node

from ._solver_runs import Setup, attempt, generate

LEARNED_NFES = (4, 8)
TRAIN_SEED_OFFSET = 1000  # training noises use seeds seed + 1000 ..., validation the next one; the bench uses seed
MAX_TRAIN_BATCHES = 4
TRAIN_TRAJECTORIES = 128


def train_batches(batch: int) -> int:
    """About TRAIN_TRAJECTORIES training trajectories, in 1 to MAX_TRAIN_BATCHES batches of the benchmark's shape."""
    return min(MAX_TRAIN_BATCHES, max(1, TRAIN_TRAJECTORIES // batch))


def parse_report(text: str) -> dict:
    """Training and validation RMSE from the node's report."""
    out = {}
    for line in text.splitlines():
        if line.startswith("training:"):
            out["train_rmse"] = float(line.split("RMSE ")[1].split()[0])
        if line.startswith("validation:"):
            out["val_rmse"] = float(line.split("RMSE ")[1].split()[0])
    return out


def learned_rows(setup: Setup, metrics, tag: dict, nfes, iterations: int, reference_steps: int) -> list[dict]:
    """One row per NFE budget in LEARNED_NFES: fit (timed, model calls counted), then generate from the bench noise."""
    rows = []
    for nfe in [n for n in LEARNED_NFES if n in nfes]:
        batches = train_batches(setup.batch)
        setup.counter[0] = 0
        start = time.perf_counter()
        fitted, error = attempt(lambda: run_node(
            "RectiFlowLearnSolver", guider=setup.counted_guider, latent_image=setup.latent,
            noise_seed=setup.seed + TRAIN_SEED_OFFSET, nfe=nfe, iterations=iterations, train_batches=batches,
            reference_steps=reference_steps))
        fit_seconds, fit_calls = time.perf_counter() - start, setup.counter[0] / setup.batch
        row = {**tag, "schedule": "learned", "sampler": "rectiflow/learned", "ours": True, "nfe": nfe, "steps": nfe,
               "error": error, "fit_seconds": fit_seconds, "fit_model_calls": fit_calls,
               "train_trajectories": batches * setup.batch, "iterations": iterations}
        if fitted:
            sampler, sigmas, report, _ = fitted
            row.update(parse_report(report))
            result, error = attempt(generate, setup, sampler, sigmas)
            row["error"] = error
            if result:
                row["actual_nfe"] = result[1]
                row.update(metrics(result[0]))
        rows.append(row)
    return rows


def learned_goal(rows: list[dict], case: str, nfe: int) -> dict:
    """The learned solver against ComfyUI's best built-in on each schedule (goal: <= 0.5 on both)."""
    def best_builtin(schedule: str) -> dict | None:
        ok = [r for r in rows if r.get("case") == case and r.get("nfe") == nfe and r.get("schedule") == schedule
              and not r.get("ours") and not r.get("error") and r.get("rmse") is not None and math.isfinite(r["rmse"])]
        return min(ok, key=lambda r: r["rmse"]) if ok else None

    learned = next((r for r in rows if r.get("case") == case and r.get("nfe") == nfe
                    and r.get("sampler") == "rectiflow/learned" and r.get("rmse") is not None), None)
    out = {"case": case, "nfe": nfe, "learned_rmse": learned and learned["rmse"],
           "train_rmse": learned and learned.get("train_rmse"), "val_rmse": learned and learned.get("val_rmse"),
           "fit_seconds": learned and learned["fit_seconds"], "fit_model_calls": learned and learned["fit_model_calls"]}
    ratios = []
    for schedule in ("default", "optimal"):
        theirs = best_builtin(schedule)
        ratio = learned["rmse"] / theirs["rmse"] if learned and theirs else None
        out[f"comfyui_{schedule}"] = theirs and f"{theirs['sampler']} {theirs['rmse']:.3g}"
        out[f"ratio_{schedule}"] = ratio
        ratios.append(ratio)
    out["met"] = all(r is not None and r <= 0.5 for r in ratios)
    return out
