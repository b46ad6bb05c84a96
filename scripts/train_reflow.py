"""Reflow the embedded digits model (2-rectified flow) and distil it to one step (fixed seed, 2 CPU threads).

    python scripts/train_reflow.py reflow    # teacher pairs + 2-RF  -> weights/digits_rf_2rf.safetensors
    python scripts/train_reflow.py distill   # 2-RF pairs + 1-step   -> weights/digits_rf_1step.safetensors
    python scripts/train_reflow.py all       # both, one after the other

Rectified Flow and reflow: Liu et al., arXiv 2209.03003. Training choices (one reflow, student initialised from the
teacher, U-shaped timesteps with a = 4, pseudo-Huber loss, a perceptual distance for the one-step student): Lee et
al. 2024, "Improving the Training of Rectified Flows", arXiv 2405.20320. The algorithms live in models/reflow.py.
Pairs and the distillation's feature classifier are rebuilt on every run (nothing is cached between commands except
the 2-RF weights the distillation starts from).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from rectiflow.models import digits as D
from rectiflow.models import reflow as R
from rectiflow.models.digits_data import checkpoint_metadata, load_dataset

ROOT = Path(__file__).resolve().parents[1]
TEACHER = "digits_rf.safetensors"
REFLOW = "digits_rf_2rf.safetensors"
ONE_STEP = "digits_rf_1step.safetensors"
TEACHER_CFG = 3.0  # the CFG scale of the pack's digits workflows (workflows/digits_quickstart.json)
NULL_FRACTION = 0.1  # share of unguided null-label pairs (the teacher's own label dropout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_flow(path: Path) -> D.DigitsUNet:
    model = D.DigitsUNet(**D.DEFAULT_CONFIG)
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def save_flow(model: torch.nn.Module, path: Path, meta: dict[str, str]) -> None:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)
    print(f"saved {path} ({sha256(path)[:12]})", flush=True)


def student_metadata(args, stage: str, teacher: Path, train_steps: int, extra: dict[str, str]) -> dict[str, str]:
    """The teacher's header (format, kind flow, architecture, time convention...) plus what this student is."""
    meta = checkpoint_metadata("flow", D.DEFAULT_CONFIG, args.seed, train_steps)
    meta.update({
        "distillation": stage,
        "teacher": teacher.name,
        "teacher_sha256": sha256(teacher),
        "guidance": f"baked in: conditional pairs from the teacher with CFG {TEACHER_CFG:g}; sample at cfg 1",
        "null_label_pairs": f"unguided: {NULL_FRACTION:.0%} of pairs follow the teacher's null-label flow, so the null label samples unconditional digits",
        "recommended_cfg": "1",
        "papers": "Rectified Flow arXiv 2209.03003; Lee et al. 2024 arXiv 2405.20320",
        **extra,
    })
    return meta


def plain_velocity(model: torch.nn.Module):
    """velocity_of(labels) for a student with baked-in guidance: one model call per evaluation."""
    def velocity_of(labels: torch.Tensor):
        context = D.label_one_hot(labels)
        return lambda x, sigma: model(x, torch.full((x.shape[0],), float(sigma) * 1000.0), context)
    return velocity_of


def reflow(args) -> None:
    teacher_path = args.weights / TEACHER
    teacher = load_flow(teacher_path)
    gen = torch.Generator().manual_seed(args.seed)
    labels = R.pair_labels(args.pairs, NULL_FRACTION, gen)
    sigmas = R.pair_sigmas(args.pair_steps)
    print(f"teacher pairs: RK4 {args.pair_steps} steps, sigma_i = (1 - i/N)^2, CFG {TEACHER_CFG:g}", flush=True)
    pairs = R.make_pairs(lambda y: lambda x, s: R.guided_velocity(teacher, x, s, y, TEACHER_CFG), labels, sigmas,
                         args.seed + 1, log=lambda m: print(m, flush=True))
    cfg = R.TrainConfig(steps=args.reflow_steps, lr=args.lr, seed=args.seed + 2)
    student = R.train(load_flow(teacher_path), pairs, R.reflow_loss(), cfg, "2-RF", log=lambda m: print(m, flush=True))
    save_flow(student, args.weights / REFLOW, student_metadata(args, "2-rectified flow (one reflow)", teacher_path,
              cfg.steps, {"recommended_steps": "2", "pairs": f"{args.pairs} (RK4 {args.pair_steps} steps)",
                          "loss": f"pseudo-Huber, U-shaped timesteps a={R.U_SHAPE_A:g}"}))


def feature_classifier(seed: int, epochs: int) -> D.DigitsClassifier:
    """The distillation's perceptual net: the evaluation classifier's recipe with another seed (the shipped classifier
    stays for evaluation only)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from train_digits import train_classifier

    images, labels = load_dataset()
    return train_classifier(images, labels, epochs, seed)


def distill(args) -> None:
    reflow_path = args.weights / REFLOW
    rf2 = load_flow(reflow_path)
    gen = torch.Generator().manual_seed(args.seed + 10)
    labels = R.pair_labels(args.pairs, NULL_FRACTION, gen)
    with torch.no_grad():
        pairs = R.make_pairs(plain_velocity(rf2), labels, R.pair_sigmas(args.distill_pair_steps), args.seed + 11,
                             log=lambda m: print(m, flush=True))
    start = time.time()
    net = feature_classifier(args.seed + 100, args.classifier_epochs)
    print(f"feature classifier (seed {args.seed + 100}) trained in {time.time() - start:.0f}s", flush=True)
    cfg = R.TrainConfig(steps=args.distill_steps, lr=args.lr, seed=args.seed + 12)
    student = R.train(load_flow(reflow_path), pairs, R.distill_loss(net), cfg, "1-step",
                      log=lambda m: print(m, flush=True))
    save_flow(student, args.weights / ONE_STEP, student_metadata(args, "one-step distillation of the 2-RF model",
              reflow_path, cfg.steps, {"recommended_steps": "1",
                                       "pairs": f"{args.pairs} from the 2-RF model (RK4 {args.distill_pair_steps} steps)",
                                       "loss": "classifier-feature distance on x0 + pseudo-Huber on v"}))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=["reflow", "distill", "all"])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--pair-steps", type=int, default=6, help="RK4 steps of the teacher solve")
    parser.add_argument("--distill-pair-steps", type=int, default=3, help="RK4 steps of the 2-RF solve")
    parser.add_argument("--reflow-steps", type=int, default=1000)
    parser.add_argument("--distill-steps", type=int, default=600)
    parser.add_argument("--classifier-epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--weights", type=Path, default=ROOT / "weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.time()
    if args.stage in ("reflow", "all"):
        reflow(args)
        print(f"reflow done at {time.time() - start:.0f}s", flush=True)
    if args.stage in ("distill", "all"):
        distill(args)
    print(json.dumps({"stage": args.stage, "wall_seconds": round(time.time() - start)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
