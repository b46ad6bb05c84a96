"""Digits quality: classifier accuracy of generated samples through the real ComfyUI sampling path.

    .venv/bin/python -P -m rectiflow.bench.digits_quality [--per-label 100] [--steps 32]

Samples `per_label` digits of each label with RectiFlow Euler (SamplerCustomAdvanced + CFGGuider) at several
CFG scales, classifies them with the shipped evaluation classifier, and writes bench/out/digits_quality.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from ._report import write_section
from rectiflow.testing.comfy_host import REPO, run_node
from rectiflow.testing.comfy_models import digits_inputs


def sample_digits(cfg: float, steps: int, inputs: tuple, seed: int, sampler_node: tuple[str, dict]):
    model, positive, negative, latent = inputs
    guider = run_node("CFGGuider", model=model, positive=positive, negative=negative, cfg=cfg)[0]
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=steps, denoise=1.0)[0]
    sampler = run_node(sampler_node[0], **sampler_node[1])[0]
    return run_node("SamplerCustomAdvanced", noise=run_node("RandomNoise", noise_seed=seed)[0], guider=guider,
                    sampler=sampler, sigmas=sigmas, latent_image=latent)[0]["samples"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=100)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--cfgs", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0, 5.0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from rectiflow.models.digits import classify, load_digits_classifier
    import torch

    clf = load_digits_classifier(REPO / "weights" / "digits_classifier.safetensors")
    expected = torch.arange(10).repeat(args.per_label)
    inputs = digits_inputs(args.per_label)
    rows = []
    for name, node in (("rectiflow_euler", ("RectiFlowSamplerEuler", {})),
                       ("comfyui_euler", ("KSamplerSelect", {"sampler_name": "euler"}))):
        for cfg in args.cfgs:
            start = time.perf_counter()
            samples = sample_digits(cfg, args.steps, inputs, args.seed, node)
            acc = (classify(clf, samples) == expected).float().mean().item()
            rows.append({"sampler": name, "cfg": cfg, "steps": args.steps, "samples": int(samples.shape[0]),
                         "accuracy": round(acc, 4), "seconds": round(time.perf_counter() - start, 2)})
            print(f"{name:16s} cfg {cfg:4.1f} steps {args.steps:3d} accuracy {acc:.4f}", flush=True)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "digits_quality.json").write_text(json.dumps(rows, indent=1))
    table = "| sampler | cfg | steps | samples | accuracy |\n|---|---|---|---|---|\n" + "\n".join(
        f"| {r['sampler']} | {r['cfg']} | {r['steps']} | {r['samples']} | {r['accuracy']:.3f} |" for r in rows)
    print("\n" + table)
    command = ".venv/bin/python -P -m rectiflow.bench.digits_quality " + " ".join(argv or [])
    write_section("digits_quality", command.strip(), table)


if __name__ == "__main__":
    main(sys.argv[1:])
