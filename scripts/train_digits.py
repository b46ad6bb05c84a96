"""Train the embedded digits rectified-flow model and its evaluation classifier (fixed seed, CPU).

    python scripts/train_digits.py            # writes weights/digits_rf.safetensors + digits_classifier.safetensors

Data: scikit-learn's handwritten digits (1,797 8x8 images), bilinearly upsampled to 16x16, scaled to [-1, 1]
(models/digits_data.py).
Flow objective (time convention of docs/design.md): x_s = (1 - s) x0 + s eps, target v = eps - x0, 10% null-label dropout.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from rectiflow.models import digits as D
from rectiflow.models.digits_data import checkpoint_metadata as metadata, load_dataset
from rectiflow.models.reflow import update_ema

ROOT = Path(__file__).resolve().parents[1]


def train_flow(images, labels, steps: int, batch: int, seed: int, log_every: int = 200) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = D.DigitsUNet(**D.DEFAULT_CONFIG)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps, pct_start=0.05)
    start = time.time()
    for step in range(steps):
        idx = torch.randint(0, images.shape[0], (batch,), generator=gen)
        x0, y = images[idx], labels[idx].clone()
        y[torch.rand(batch, generator=gen) < 0.1] = D.NULL_LABEL
        eps = torch.randn(x0.shape, generator=gen)
        sigma = torch.sigmoid(torch.randn(batch, generator=gen))  # logit-normal, as SD3
        sigma = torch.where(torch.rand(batch, generator=gen) < 0.2, torch.rand(batch, generator=gen), sigma)
        s = sigma[:, None, None, None]
        x_s = (1 - s) * x0 + s * eps
        v = model(x_s, sigma * 1000, D.label_one_hot(y))
        loss = torch.nn.functional.mse_loss(v, eps - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        update_ema(ema, model, decay=min(0.999, (1 + step) / (10 + step)))
        if step % log_every == 0 or step == steps - 1:
            print(f"flow step {step:5d}/{steps} loss {loss.item():.4f} {time.time() - start:6.0f}s", flush=True)
    return ema


def train_classifier(images, labels, epochs: int, seed: int) -> torch.nn.Module:
    """Classifier with light shift/noise augmentation so it also reads imperfect samples."""
    gen = torch.Generator().manual_seed(seed + 1)
    torch.manual_seed(seed + 1)
    clf = D.DigitsClassifier()
    opt = torch.optim.AdamW(clf.parameters(), lr=2e-3, weight_decay=1e-4)
    n = images.shape[0]
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, 128):
            idx = perm[i:i + 128]
            x = images[idx]
            shift = torch.randint(-1, 2, (2,), generator=gen).tolist()
            x = torch.roll(x, shifts=shift, dims=(2, 3)) + 0.1 * torch.randn(x.shape, generator=gen)
            loss = torch.nn.functional.cross_entropy(clf(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return clf.eval()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2500, help="flow training steps")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--classifier-epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "weights")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    images, labels = load_dataset()
    args.out.mkdir(parents=True, exist_ok=True)
    held_out = torch.arange(images.shape[0]) % 5 == 0
    probe = train_classifier(images[~held_out], labels[~held_out], args.classifier_epochs, args.seed)
    with torch.no_grad():
        acc = (probe(images[held_out]).argmax(1) == labels[held_out]).float().mean().item()
    print(f"classifier held-out accuracy (trained on 80%) {acc:.4f}; final classifier uses all data")
    clf = train_classifier(images, labels, args.classifier_epochs, args.seed)
    save_file({k: v.contiguous() for k, v in clf.state_dict().items()}, str(args.out / "digits_classifier.safetensors"),
              metadata={**metadata("classifier", {"width": 32}, args.seed, args.classifier_epochs), "held_out_accuracy": f"{acc:.4f}"})
    flow = train_flow(images, labels, args.steps, args.batch, args.seed)
    save_file({k: v.contiguous() for k, v in flow.state_dict().items()}, str(args.out / "digits_rf.safetensors"),
              metadata=metadata("flow", D.DEFAULT_CONFIG, args.seed, args.steps))
    print(f"saved to {args.out}")


if __name__ == "__main__":
    main(sys.argv[1:])
