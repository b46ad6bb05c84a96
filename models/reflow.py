"""Reflow of the digits model and its one-step distillation (pure torch, never imports comfy).

Rectified Flow (Liu et al., arXiv 2209.03003): sample noise z, solve the teacher's ODE to get x = T(z), then train a
student on the straight interpolation of each pair, x_s = (1 - s) x + s z with target velocity v = z - x (time
convention of docs/design.md: sigma = 1 is noise). The new flow ("2-rectified flow", 2-RF) has straighter paths, so
few Euler steps suffice. Training follows Lee et al. 2024, "Improving the Training of Rectified Flows" (arXiv
2405.20320): one reflow only, the student initialised from the teacher, a U-shaped timestep distribution and the
pseudo-Huber loss. The one-step distillation (Liu et al. sec. 2.3) then trains on the 2-RF model's own pairs with a
perceptual distance on the predicted x0, here the features of a small digits classifier standing in for LPIPS.

Guidance is baked in: conditional pairs come from the teacher with classifier-free guidance, so the student is used
at cfg 1. Pairs with the null label come from the unguided teacher, so the student's null label still samples
unconditional digits (and a user's CFG on the student still has a meaningful negative).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Callable

import torch

from ..samplers.solvers import sample_flow_rk4
from .digits import NULL_LABEL, NUM_CLASSES, DigitsClassifier, label_one_hot

U_SHAPE_A = 4.0  # Lee et al. 2024 sec. 4.1: a = 4
HUBER_C_PER_SQRT_DIM = 0.00054  # pseudo-Huber c = 0.00054 sqrt(d) (Song & Dhariwal, arXiv 2310.14189; Lee et al.)
Log = Callable[[str], None]


@torch.no_grad()
def guided_velocity(model: torch.nn.Module, x: torch.Tensor, sigma: torch.Tensor | float, labels: torch.Tensor,
                    cfg: float) -> torch.Tensor:
    """Teacher velocity with classifier-free guidance v_null + cfg (v_label - v_null), as ComfyUI's CFGGuider computes
    it (the denoised x0 = x - sigma v is affine in v). Rows with the null label get the unguided v_null.
    x [B, 1, 16, 16], labels [B] -> [B, 1, 16, 16]."""
    n = x.shape[0]
    t = torch.full((2 * n,), float(sigma) * 1000.0)
    null = torch.full_like(labels, NULL_LABEL)
    v = model(torch.cat([x, x]), t, label_one_hot(torch.cat([labels, null])))
    v_label, v_null = v[:n], v[n:]
    guided = v_null + cfg * (v_label - v_null)
    return torch.where((labels == NULL_LABEL)[:, None, None, None], v_null, guided)


def pair_sigmas(steps: int, power: float = 2.0) -> torch.Tensor:
    """steps + 1 sigmas from 1 to 0, sigma_i = (1 - i / steps)^power: short steps near the data, where the trained
    velocity changes fastest (the final step into 0 is an Euler step onto the denoised estimate)."""
    return (1 - torch.arange(steps + 1, dtype=torch.float32) / steps) ** power


def solve(velocity: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], z: torch.Tensor,
          sigmas: torch.Tensor) -> torch.Tensor:
    """Classical RK4 from noise z along `sigmas` with the pack's solver (samplers.solvers.sample_flow_rk4)."""
    def denoiser(x: torch.Tensor, sigma_in: torch.Tensor) -> torch.Tensor:
        sigma = sigma_in[0]
        return x - sigma * velocity(x, sigma)
    return sample_flow_rk4(denoiser, z, sigmas)


@dataclass
class Pairs:
    """Noise z [N, 1, 16, 16], the teacher's solution x from it, and the labels [N] (NULL_LABEL: unconditional)."""
    noise: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]


def pair_labels(count: int, null_fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Balanced digit labels with about `null_fraction` of them replaced by the null label, shuffled."""
    labels = torch.arange(count) % NUM_CLASSES
    labels[: int(round(count * null_fraction))] = NULL_LABEL
    return labels[torch.randperm(count, generator=generator)]


def make_pairs(velocity_of: Callable[[torch.Tensor], Callable], labels: torch.Tensor, sigmas: torch.Tensor,
               seed: int, batch: int = 500, log: Log = print) -> Pairs:
    """Pairs (z, T(z)) for `labels`: fresh seeded noise, one RK4 solve per batch of `velocity_of(labels_batch)`."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((labels.shape[0], 1, 16, 16), generator=generator)
    images = torch.empty_like(noise)
    start = time.time()
    for i in range(0, labels.shape[0], batch):
        images[i:i + batch] = solve(velocity_of(labels[i:i + batch]), noise[i:i + batch], sigmas)
        log(f"pairs {min(i + batch, len(labels)):6d}/{len(labels)} {time.time() - start:6.0f}s")
    return Pairs(noise, images, labels)


def u_shaped_timesteps(n: int, generator: torch.Generator, a: float = U_SHAPE_A) -> torch.Tensor:
    """[n] times in (0, 1) with density proportional to exp(a t) + exp(a (1 - t)), i.e. cosh(a (t - 1/2)): Lee et al.
    2024 (arXiv 2405.20320, sec. 4.1; their code rfpp/t_dist.py mirrors an exponential density), more weight at both
    ends where the reflow loss is largest. Inverse CDF of the exponential part, mirrored with probability 1/2."""
    r = torch.rand(n, generator=generator, dtype=torch.float64)
    t = torch.log1p(r * math.expm1(a)) / a
    flip = torch.rand(n, generator=generator) < 0.5
    t = torch.where(flip, 1 - t, t)
    return t.float().clamp(1e-5, 1 - 1e-5)


def pseudo_huber(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample sqrt(||pred - target||^2 + c^2) - c with c = 0.00054 sqrt(d), d the data dimension (iCT, arXiv
    2310.14189; Lee et al. 2024 sec. 4.2), divided by sqrt(d) so its size does not depend on the image size. (rfpp's
    train.py uses c = 0.00054 d; at d = 256 both c are far below the typical residual norm, about 1, so either way
    the loss acts as the L2 norm, less dominated by the few large residuals than the squared error.)"""
    d = pred[0].numel()
    c = HUBER_C_PER_SQRT_DIM * math.sqrt(d)
    squared = (pred - target).flatten(1).pow(2).sum(dim=1)
    return ((squared + c * c).sqrt() - c) / math.sqrt(d)


def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pe, pm in zip(ema.parameters(), model.parameters()):
            pe.lerp_(pm, 1 - decay)


@dataclass
class TrainConfig:
    steps: int
    batch: int = 128
    lr: float = 2e-4
    warmup: int = 100
    ema_decay: float = 0.995
    seed: int = 0
    log_every: int = 100


Loss = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


def train(student: torch.nn.Module, pairs: Pairs, loss_fn: Loss, cfg: TrainConfig, name: str,
          log: Log = print) -> torch.nn.Module:
    """AdamW with linear warm-up, minibatches drawn with a fixed seed, EMA of the weights (returned, eval mode)."""
    generator = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    student = student.train()
    ema = copy.deepcopy(student).requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / cfg.warmup))
    start, running = time.time(), 0.0
    for step in range(cfg.steps):
        idx = torch.randint(0, len(pairs), (cfg.batch,), generator=generator)
        loss = loss_fn(student, pairs.noise[idx], pairs.images[idx], pairs.labels[idx], generator).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        update_ema(ema, student, cfg.ema_decay)
        running += loss.item()
        if (step + 1) % cfg.log_every == 0 or step == cfg.steps - 1:
            log(f"{name} step {step + 1:5d}/{cfg.steps} loss {running / cfg.log_every:.5f} {time.time() - start:6.0f}s")
            running = 0.0
    return ema.eval()


def reflow_loss(a: float = U_SHAPE_A) -> Loss:
    """2-RF objective: pseudo-Huber between the student's velocity at x_s = (1 - s) x + s z and z - x, s U-shaped."""
    def loss(student, z, x, labels, generator):
        s = u_shaped_timesteps(z.shape[0], generator, a)[:, None, None, None]
        v = student((1 - s) * x + s * z, s.flatten() * 1000.0, label_one_hot(labels))
        return pseudo_huber(v, z - x)
    return loss


def classifier_feature_maps(net: DigitsClassifier, x: torch.Tensor) -> list[torch.Tensor]:
    """The activations of `net.features` after each SiLU (3 conv maps and the 128-d embedding)."""
    maps = []
    for layer in net.features:
        x = layer(x)
        if isinstance(layer, torch.nn.SiLU):
            maps.append(x)
    return maps


def feature_distance(net: DigitsClassifier, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS-like per-sample distance (Zhang et al., arXiv 1801.03924, without learned weights): each layer's
    activations unit-normalised over channels, squared differences averaged over positions, summed over layers."""
    total = a.new_zeros(a.shape[0])
    for fa, fb in zip(classifier_feature_maps(net, a), classifier_feature_maps(net, b)):
        fa = fa / (fa.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-8)
        fb = fb / (fb.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-8)
        squared = (fa - fb).pow(2).sum(dim=1)
        total = total + (squared.flatten(1).mean(dim=1) if squared.ndim > 1 else squared)
    return total


def distill_loss(feature_net: DigitsClassifier, one_step_fraction: float = 0.5, huber_weight: float = 1.0,
                 a: float = U_SHAPE_A) -> Loss:
    """One-step distillation on the 2-RF model's pairs (Liu et al. arXiv 2209.03003, sec. 2.3; LPIPS-Huber of Lee et
    al. 2024 sec. 4.2): the student's x0 prediction x_s - s v from x_s on the pair's line is compared with x by the
    feature distance, plus pseudo-Huber on the velocity. A `one_step_fraction` of the rows use s = 1 (the one-step
    map itself); the others draw s from the U-shaped law so 2 and 4 steps keep working."""
    feature_net.requires_grad_(False).eval()

    def loss(student, z, x, labels, generator):
        n = z.shape[0]
        s = u_shaped_timesteps(n, generator, a)
        s = torch.where(torch.rand(n, generator=generator) < one_step_fraction, torch.ones_like(s), s)
        s4 = s[:, None, None, None]
        x_s = (1 - s4) * x + s4 * z
        v = student(x_s, s * 1000.0, label_one_hot(labels))
        x0 = x_s - s4 * v
        return feature_distance(feature_net, x0.clamp(-1.5, 1.5), x) + huber_weight * pseudo_huber(v, z - x)
    return loss
