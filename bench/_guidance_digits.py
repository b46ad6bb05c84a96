"""The digits task of bench/guidance_tasks.py: per-class Frechet distance in the shipped classifier's 128-d features
between each law's digits of class c and real digits of class c, with the real-vs-real floor at the same sample size.

The real digits of each class are split in two halves (seeded): half B is the reference every Frechet distance is
measured against; half A gives the floor (real digits that the reference did not see, as many per class as each
run generates, and all of half A).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from rectiflow.models.digits_data import load_dataset
from rectiflow.testing.comfy_host import REPO, pack_module, run_node
from rectiflow.testing.comfy_models import counting_model, digits_inputs

from ._solver_digits import DigitsJudge, frechet_distance
from .guidance import build_guider, guider_settings, sample

DIGIT_WEIGHTS = (1.5, 3.0, 6.0)     # the digits workflows use CFG 3; w 6 already saturates pixels
EXTRA_CFG_WEIGHTS = (1.0, 6.0)      # CFG 1, the unguided conditional model, and 6: the ends of the CFG frontier
CLASSES = 10


@dataclass
class DigitsTask:
    judge: DigitsJudge                                   # only its classifier and features() are used
    moments: list[tuple[torch.Tensor, torch.Tensor]]     # per class: half B's feature mean [128], covariance
    half_a: list[torch.Tensor]                           # per class: half A's images [n_c, 1, 16, 16]


@functools.cache
def digits_task(seed: int = 0) -> DigitsTask:
    weights = REPO / "weights" / "digits_classifier.safetensors"
    classifier = pack_module("models.digits").load_digits_classifier(weights)
    judge = DigitsJudge(classifier, torch.zeros(0), torch.zeros(1), torch.zeros(1))
    images, labels = load_dataset()
    gen = torch.Generator().manual_seed(seed)
    moments, half_a = [], []
    for c in range(CLASSES):
        own = images[labels == c][torch.randperm(int((labels == c).sum()), generator=gen)]
        features = judge.features(own[len(own) // 2:])
        moments.append((features.mean(0), torch.cov(features.T)))
        half_a.append(own[:len(own) // 2])
    return DigitsTask(judge, moments, half_a)


def digits_metrics(images: torch.Tensor, labels: torch.Tensor, task: DigitsTask) -> dict[str, float]:
    """Precision (the classifier reads the label), per-class Frechet (mean over classes, worst class), within-class
    diversity (mean pairwise pixel distance / sqrt(256)) and overshoot (share of pixels beyond +-1.1, mean excess
    max(|x| - 1, 0) over all pixels)."""
    features = task.judge.features(images)
    with torch.no_grad():
        predicted = task.judge.classifier.head(features.float()).argmax(dim=1)
    present = [c for c in range(CLASSES) if int((labels == c).sum()) > 1]
    frechet = [frechet_distance(features[labels == c], *task.moments[c]) for c in present]
    flat = images.reshape(images.shape[0], -1).float()
    diversity = [torch.pdist(flat[labels == c]).mean() / math.sqrt(flat.shape[1]) for c in present]
    return {"precision": float((predicted == labels).float().mean()), "frechet": sum(frechet) / len(frechet),
            "frechet_worst": max(frechet), "diversity": float(torch.stack(diversity).mean()),
            "beyond_1p1": float((images.abs() > 1.1).float().mean()),
            "excess": float((images.abs() - 1).clamp_min(0).mean())}


def digits_reference(per_label: int) -> tuple[dict, list[dict]]:
    """(metrics of `per_label` real half-A digits per class: the point every law is compared with, floor rows)."""
    task = digits_task()
    rows = []
    for name, count in ((f"real, {per_label} per class", per_label), ("real, all of half A", None)):
        images = torch.cat([own[:count] for own in task.half_a])
        labels = torch.cat([torch.full((len(own[:count]),), c) for c, own in enumerate(task.half_a)])
        rows.append({"name": name, **{k: round(v, 4) for k, v in digits_metrics(images, labels, task).items()}})
    return {k: v for k, v in rows[0].items() if k != "name"}, rows


def digits_task_sweep(per_label: int, steps_list, weights, seed: int = 1, on_rows=None) -> list[dict]:
    """Every law at each w (plus CFG 1 and 6) x steps on the digits model, RectiFlow Euler through SamplerCustomAdvanced;
    `on_rows(rows)` after each law and w (to save partial results)."""
    task, counter = digits_task(), [0]
    model, positive, negative, latent = digits_inputs(per_label)
    model, sampler = counting_model(model, counter), run_node("RectiFlowSamplerEuler")[0]
    labels = torch.arange(CLASSES * per_label) % CLASSES
    specs = [(name, w, spec) for w in weights for name, spec in guider_settings(w).items()]
    specs += [("CFG", w, ("CFGGuider", {"cfg": w})) for w in EXTRA_CFG_WEIGHTS if w not in weights]
    rows = []
    for name, w, spec in specs:
        for steps in steps_list:
            counter[0] = 0
            out = sample(build_guider(model, positive, negative, spec), steps, latent, seed, model, sampler)
            rows.append({"task": "digits", "guider": name, "w": w, "steps": steps,
                         "nfe": round(counter[0] / len(labels), 1),
                         **{k: round(v, 4) for k, v in digits_metrics(out, labels, task).items()}})
        print(f"digits: {name} w {w:g} done", flush=True)
        if on_rows is not None:
            on_rows(rows)
    return rows
