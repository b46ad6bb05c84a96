"""Editing benchmark on real digits: every (source label -> target label) edit, all operators in one run.

    .venv/bin/python -P -m rectiflow.bench.editing [--images 3] [--steps 20] [--cfg 3.0] [--threads 2] [--quick]

Sources are real scikit-learn digits (models/digits_data.py) that the shipped classifier reads correctly: for each
of the 90 ordered pairs (s -> t, s != t) `--images` distinct images of label s, and for each label `--images` more
for the identity edit (t = s). Every edit of one operator setting runs as one batch. Both branches are the shipped
flow model digits_rf.safetensors with classifier-free guidance at the same `--cfg` (v = v_null + cfg (v_label -
v_null); source branch: the source label, target branch: the target label), on the linear schedule
sigma = 1 .. 0 with `--steps` steps (the baselines' knob is their own number of steps). The operators and their
knobs are in bench/_editing_operators.py (OPERATORS): FlowEdit (n_max), RF-Inversion (stop_step), and the
baselines plain "invert then regenerate" with Euler and with RF-Solver (steps).

Edited images are clamped to the data range [-1, 1]; then, over the 90 pairs:
- success: the shipped classifier reads the target label;
- MSE: mean squared pixel difference to the source; SSIM: kornia's SSIM (7x7 Gaussian window) on [0, 1] images;
- background error: the MSE over the source's background pixels, defined as the pixels outside the source's ink
  (pixels above -0.8, i.e. 10% of the way from paper to ink) dilated by one pixel (3x3), where the source is
  paper (-1); an edit that keeps the background clean and redraws only the strokes scores 0;
- identity error: RMS difference between the identity edit (target = source) and its source, in % of the data
  range 2 (the goal: below 1%);
- model calls: guided velocity evaluations per edit, counted (each costs two network passes, label and null;
  v(x, 0) = -x is free, docs/design.md).
Goal (issue 11): one operator reaches >= 90% success with a lower MSE than the Euler baseline at the nearest number
of model calls, and an identity error below 1%. Writes bench/out/editing.json, bench/out/editing.md and
bench/out/editing_pareto.png (success against MSE and SSIM); a full run also updates docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import torch

from rectiflow.models import digits as D
from rectiflow.models.digits_data import load_dataset

from rectiflow.testing.comfy_host import REPO

from ._editing_operators import OPERATORS, EditOperator
from ._editing_report import goals, markdown, pareto_plot

OUT = REPO / "bench" / "out"
INK, DATA_RANGE = -0.8, 2.0


class Batch:
    """Sources, their labels and the edit targets: 90 pair blocks of n images, then 10 identity blocks of n."""

    def __init__(self, images: int, seed: int, classifier):
        if not 1 <= images <= 17:
            raise ValueError(f"--images: expected 1 to 17 images per pair (each label has about 170), got {images}")
        data, labels = load_dataset()
        correct = D.classify(classifier, data) == labels
        generator = torch.Generator().manual_seed(seed)
        sources, src, tar = [], [], []
        for s in range(10):
            pool = torch.nonzero((labels == s) & correct).flatten()
            pool = pool[torch.randperm(len(pool), generator=generator)]
            targets = [t for t in range(10) if t != s] + [s]   # identity block last
            for j, t in enumerate(targets):
                sources.append(pool[j * images:(j + 1) * images])
                tar += [t] * images
            src += [s] * images * 10
        index = torch.cat(sources)
        order = torch.argsort((torch.tensor(src) == torch.tensor(tar)).int(), stable=True)   # pairs first
        self.x = data[index][order]
        self.source_labels, self.target_labels = torch.tensor(src)[order], torch.tensor(tar)[order]
        self.pairs = self.source_labels != self.target_labels
        self.noise = torch.randn(self.x.shape, generator=generator)


class GuidedVelocity:
    """(x, sigma) -> CFG velocity of the digits net for fixed labels; counts calls and caches repeated ones (shared
    prefixes across knob values cost no time, but still count as model calls of each edit)."""

    def __init__(self, net, labels: torch.Tensor, cfg: float, counter: list[int]):
        self.net, self.cfg, self.counter, self.cache = net, cfg, counter, {}
        self.context = D.label_one_hot(torch.cat([labels, torch.full_like(labels, D.NULL_LABEL)]))

    def __call__(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma == 0.0:
            return -x
        self.counter[0] += 1
        key = (float(sigma), hashlib.blake2b(x.detach().contiguous().numpy().tobytes(), digest_size=16).digest())
        if key not in self.cache:
            with torch.no_grad():
                both = self.net(torch.cat([x, x]), torch.full((2 * x.shape[0],), 1000.0 * sigma), context=self.context)
            cond, null = both.float().chunk(2)
            self.cache[key] = null + self.cfg * (cond - null)
        return self.cache[key]


def load_flow():
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = REPO / "weights" / "digits_rf.safetensors"
    with safe_open(str(path), "pt") as f:
        config = json.loads(f.metadata()["architecture"])
    net = D.DigitsUNet(**config)
    net.load_state_dict(load_file(str(path)))
    return net.eval()


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """[B] SSIM of images in [-1, 1] (kornia, 7x7 Gaussian window, on [0, 1])."""
    import kornia

    return kornia.metrics.ssim((a + 1) / 2, (b + 1) / 2, window_size=7, max_val=1.0).flatten(1).mean(1)


def background_mask(x: torch.Tensor) -> torch.Tensor:
    ink = (x > INK).float()
    return torch.nn.functional.max_pool2d(ink, 3, stride=1, padding=1) == 0


def measure(edited: torch.Tensor, batch: Batch, classifier) -> dict:
    out, src, pairs = edited.float().clamp(-1, 1), batch.x, batch.pairs
    success = (D.classify(classifier, out[pairs]) == batch.target_labels[pairs]).float()
    squared = (out - src) ** 2
    mask = background_mask(src[pairs])
    identity = squared[~pairs].flatten(1).mean(1).sqrt() / DATA_RANGE
    by_pair = success.view(90, -1).mean(1)
    return {"success": float(success.mean()), "mse": float(squared[pairs].mean()),
            "ssim": float(ssim(out[pairs], src[pairs]).mean()),
            "background_mse": float(squared[pairs][mask].mean()),
            "identity_error_pct": 100 * float(identity.mean()), "identity_error_max_pct": 100 * float(identity.max()),
            "success_by_pair": [round(float(v), 3) for v in by_pair]}


def linear_sigmas(steps: int) -> torch.Tensor:
    return torch.linspace(1.0, 0.0, steps + 1)


def run_operator(op: EditOperator, net, batch: Batch, classifier, args) -> list[dict]:
    counter = [0]
    v_src = GuidedVelocity(net, batch.source_labels, args.cfg, counter)
    v_tar = GuidedVelocity(net, batch.target_labels, args.cfg, counter)
    rows = []
    for value in op.values:
        steps = int(value) if op.knob == "steps" else args.steps
        counter[0], start = 0, time.perf_counter()
        edited = op.edit(v_src, v_tar, batch.x, linear_sigmas(steps), batch.noise, value)
        expected = op.calls(steps, value)
        if counter[0] != expected:
            raise RuntimeError(f"{op.name} {op.knob}={value}: counted {counter[0]} model calls, its formula says "
                               f"{expected}")
        row = {"operator": op.name, "knob": op.knob, "value": value, "baseline": op.baseline, "steps": steps,
               "model_calls": counter[0], **measure(edited, batch, classifier),
               "seconds": round(time.perf_counter() - start, 1)}
        rows.append(row)
        print(f"{op.name:28s} {op.knob} {value:<5g} success {100 * row['success']:5.1f}% mse {row['mse']:.4f} "
              f"ssim {row['ssim']:.3f} bg {row['background_mse']:.4f} identity {row['identity_error_pct']:.2f}% "
              f"calls {row['model_calls']} ({row['seconds']}s)", flush=True)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3, help="source images per (source, target) pair")
    parser.add_argument("--steps", type=int, default=20, help="schedule steps of the operators")
    parser.add_argument("--cfg", type=float, default=3.0, help="CFG scale of both branches")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="one image per pair (a fast check)")
    args = parser.parse_args(argv)
    if args.quick:
        args.images = 1
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    classifier = D.load_digits_classifier(REPO / "weights" / "digits_classifier.safetensors")
    net, batch = load_flow(), Batch(args.images, args.seed, classifier)
    rows = [row for op in OPERATORS for row in run_operator(op, net, batch, classifier, args)]
    command = (".venv/bin/python -P -m rectiflow.bench.editing " + " ".join(argv or [])).strip()
    OUT.mkdir(parents=True, exist_ok=True)
    settings = {"images_per_pair": args.images, "steps": args.steps, "cfg": args.cfg, "seed": args.seed,
                "edits": int(batch.pairs.sum()), "identity_edits": int((~batch.pairs).sum())}
    (OUT / "editing.json").write_text(json.dumps({"command": command, "settings": settings, "rows": rows,
                                                  "goals": goals(rows)}, indent=1))
    pareto_plot(rows, OUT / "editing_pareto.png")
    text = markdown(rows, settings)
    (OUT / "editing.md").write_text(f"Command: `{command}`\n\n{text}\n")
    print("\n" + text + f"\n\nwall time {time.perf_counter() - start:.0f}s")
    if not args.quick:
        from ._report import write_section
        write_section("editing", command, text)


if __name__ == "__main__":
    main(sys.argv[1:])
