"""Reflowed digits models against their teacher, through ComfyUI's real sampling path.

    .venv/bin/python -P -m rectiflow.bench.reflow [--per-label 100]

The teacher (digits_rf.safetensors, CFG 3 as the workflows use it) at 1, 2, 4, 8 and 32 Euler steps; the 2-rectified
flow (digits_rf_2rf.safetensors) and its one-step distillation (digits_rf_1step.safetensors) at 1, 2 and 4 steps with
cfg 1 (guidance is baked in). Every run: RectiFlow Digits Model Loader -> CFGGuider -> RectiFlow Euler ->
SamplerCustomAdvanced with the `simple` schedule, the same seeded noise for every model. Metrics: the shipped
classifier's accuracy on the conditioned labels, the Frechet distance in its feature space to all 1,797 real digits
(bench/_solver_digits.py), and the Straightness Inspector's figures (samplers/trajectory.py) on a fine reference
trajectory of each guided model (RectiFlow Reference Trajectory node). Rectified Flow: arXiv 2209.03003; the reflow
recipe: Lee et al. 2024, arXiv 2405.20320 (scripts/train_reflow.py). Writes bench/out/reflow.json and the `reflow`
section of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from rectiflow.models.digits_data import real_digits
from rectiflow.testing.comfy_host import REPO, pack_module, run_node

from ._report import write_section
from ._solver_digits import DigitsJudge, frechet_distance

MODELS = {  # name -> (file, cfg, steps)
    "teacher": ("digits_rf.safetensors", 3.0, (1, 2, 4, 8, 32)),
    "2-RF": ("digits_rf_2rf.safetensors", 1.0, (1, 2, 4)),
    "1-step": ("digits_rf_1step.safetensors", 1.0, (1, 2, 4)),
}
GOALS = "1-step at 1 step within 2x of the teacher's Frechet distance at 32 steps; 2-RF at 2 steps below the teacher at 8"


NULL_STEPS = {"teacher": 32, "2-RF": 2, "1-step": 1}  # unconditional rows: the null label at cfg 1


def guider_for(file: str, cfg: float, labels: str = "0 1 2 3 4 5 6 7 8 9"):
    model = run_node("RectiFlowDigitsModelLoader", model_name=file)[0]
    positive = run_node("RectiFlowDigitsLabel", labels=labels)[0]
    negative = run_node("RectiFlowDigitsLabel", labels="null")[0]
    return model, run_node("CFGGuider", model=model, positive=positive, negative=negative, cfg=cfg)[0]


def sample(model, guider, steps: int, batch: int, seed: int) -> torch.Tensor:
    latent = run_node("RectiFlowDigitsEmptyLatent", batch_size=batch)[0]
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=steps, denoise=1.0)[0]
    sampler = run_node("RectiFlowSamplerEuler")[0]
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=seed)[0], guider=guider,
                    sampler=sampler, sigmas=sigmas, latent_image=latent)[0]["samples"]


def straightness(guider, batch: int, seed: int, fine_steps: int) -> dict:
    """The Straightness Inspector's numbers for one guided model on a fine Heun reference trajectory."""
    latent = run_node("RectiFlowDigitsEmptyLatent", batch_size=batch)[0]
    trajectory = run_node("RectiFlowReferenceTrajectory", guider=guider, latent_image=latent, noise_seed=seed,
                          fine_steps=fine_steps)[0]
    report = pack_module("samplers.trajectory").straightness_report(trajectory)
    return {"straightness": report.straightness, "max_curvature": float(report.curvature.max()),
            "recommended_steps": report.recommended_steps,
            "euler_error_by_steps": report.euler_error_by_steps}


def make_judge(per_label: int) -> DigitsJudge:
    classifier = pack_module("models.digits").load_digits_classifier(REPO / "weights" / "digits_classifier.safetensors")
    judge = DigitsJudge(classifier, torch.arange(10).repeat(per_label), torch.zeros(1), torch.zeros(1))
    features = judge.features(real_digits())
    judge.data_mean, judge.data_cov = features.mean(0), torch.cov(features.T)
    return judge


def run(args) -> tuple[list[dict], dict, float]:
    judge = make_judge(args.per_label)
    batch = 10 * args.per_label
    gen = torch.Generator().manual_seed(args.seed)
    real = real_digits()[torch.randperm(real_digits().shape[0], generator=gen)[:batch]]
    floor = frechet_distance(judge.features(real), judge.data_mean, judge.data_cov)
    rows, shapes = [], {}
    for name, (file, cfg, steps_list) in MODELS.items():
        model, guider = guider_for(file, cfg)
        for steps in steps_list:
            start = time.perf_counter()
            row = judge(sample(model, guider, steps, batch, args.seed))
            rows.append({"model": name, "file": file, "cfg": cfg, "steps": steps,
                         "model_calls": steps * (2 if cfg != 1 else 1), **row,
                         "seconds": round(time.perf_counter() - start, 2)})
            print(f"{name:8s} cfg {cfg:g} steps {steps:2d} accuracy {row['accuracy']:.3f} "
                  f"frechet {row['frechet']:.2f}", flush=True)
        shapes[name] = straightness(guider, args.trajectory_batch, args.seed, args.fine_steps)
        null_model, null_guider = guider_for(file, 1.0, "null")
        features = judge.features(sample(null_model, null_guider, NULL_STEPS[name], batch, args.seed))
        rows.append({"model": f"{name}, null label", "file": file, "cfg": 1.0, "steps": NULL_STEPS[name],
                     "model_calls": NULL_STEPS[name], "accuracy": None,
                     "frechet": frechet_distance(features, judge.data_mean, judge.data_cov)})
        print(f"{name:8s} straightness {shapes[name]['straightness']:.5f}", flush=True)
    return rows, shapes, floor


def frechet_of(rows: list[dict], model: str, steps: int) -> float:
    return next(r["frechet"] for r in rows if r["model"] == model and r["steps"] == steps)


def goals(rows: list[dict]) -> list[str]:
    teacher32, teacher8 = frechet_of(rows, "teacher", 32), frechet_of(rows, "teacher", 8)
    one_step, rf2_two = frechet_of(rows, "1-step", 1), frechet_of(rows, "2-RF", 2)
    return [f"1-step model at 1 step: Frechet {one_step:.2f} vs 2 x teacher at 32 steps {2 * teacher32:.2f}: "
            f"{'met' if one_step <= 2 * teacher32 else 'not met'} (ratio {one_step / teacher32:.2f})",
            f"2-RF at 2 steps: Frechet {rf2_two:.2f} vs teacher at 8 steps {teacher8:.2f}: "
            f"{'met' if rf2_two < teacher8 else 'not met'}"]


def markdown(rows: list[dict], shapes: dict, floor: float, args) -> str:
    head = (f"Teacher `digits_rf.safetensors` (CFG 3) and its reflowed students (cfg 1, guidance baked in), "
            f"{10 * args.per_label} digits per row ({args.per_label} per label), RectiFlow Euler on the `simple` "
            f"schedule through SamplerCustomAdvanced, seed {args.seed}. Accuracy: the shipped classifier reads the "
            f"conditioned label. Frechet: distance in the classifier's 128-d features to all 1,797 real digits "
            f"(real digits, {10 * args.per_label} drawn: {floor:.1f}). Null-label rows: unconditional samples at cfg 1 "
            f"(the students' null label was trained on the unguided teacher's pairs, 10% of them).\n\n")
    table = "| model | cfg | steps | model calls | accuracy | Frechet |\n|---|---|---|---|---|---|\n" + "\n".join(
        f"| {r['model']} | {r['cfg']:g} | {r['steps']} | {r['model_calls']} | "
        f"{'-' if r['accuracy'] is None else format(r['accuracy'], '.3f')} | {r['frechet']:.1f} |"
        for r in rows)
    curves = ("\n\nStraightness Inspector (reference: Heun, "
              f"{args.fine_steps} steps, {args.trajectory_batch} digits): S = mean squared deviation of the velocity "
              "from the straight chord (0 = straight, Liu et al. arXiv 2209.03003), max curvature "
              "||dv|| / (|ds| ||v||), recommended Euler steps at tolerance 0.1.\n\n"
              "| model | straightness S | max curvature | recommended steps | relative Euler error at 1 / 2 / 4 steps |\n"
              "|---|---|---|---|---|\n" + "\n".join(
                  f"| {name} | {s['straightness']:.4f} | {s['max_curvature']:.2f} | {s['recommended_steps']} | "
                  + " / ".join(f"{s['euler_error_by_steps'][k]:.3f}" for k in (1, 2, 4)) + " |"
                  for name, s in shapes.items()))
    return head + table + curves + "\n\nGoals: " + "; ".join(goals(rows)) + "."


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=100)
    parser.add_argument("--trajectory-batch", type=int, default=50)
    parser.add_argument("--fine-steps", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows, shapes, floor = run(args)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "reflow.json").write_text(json.dumps({"rows": rows, "straightness": shapes, "real_floor": floor}, indent=1))
    text = markdown(rows, shapes, floor, args)
    print("\n" + text + f"\n\nwall time {time.perf_counter() - start:.0f}s")
    command = (".venv/bin/python -P -m rectiflow.bench.reflow " + " ".join(argv or [])).strip()
    write_section("reflow", command, text)


if __name__ == "__main__":
    main(sys.argv[1:])
