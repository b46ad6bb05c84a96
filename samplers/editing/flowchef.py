"""FlowChef: steering rectified flow models in the vector field for controlled image generation (Patel et al.,
arXiv 2412.00100), following its official code (github.com/FlowChef/FlowChef: the RF++ inverse-problem sampler
inverseproblems/pixel_models/rfpp/generate_inverseproblems_flowchef.py and the Flux editing pipeline
src/fluxcombined.py). The official code's t is ComfyUI's sigma (1 noise, 0 image).

Gradient skipping: at each step the velocity v is computed once and held fixed; the state is steered so that its
x0 estimate x - sigma * v fits a measurement y (from x_src) through a linear operator A (optimization_steps times),
    x <- x - step_size * B(W * (A(x - sigma * v) - y)),
with B = A^T for inpainting and deblurring and B = s^2 A^T (nearest upsampling, A B = I) for x s super-resolution;
then the Euler step x <- x + (sigma_next - sigma) * v uses the same v. The official codes take the gradient of a
mean squared error, x <- x - lr * grad mean(W (A x0 - y)^2), which is the step above with
step_size = lr * loss_scale * 2 / numel(x) (numel of the full-resolution state, batch included): RF++ at 64x64x3,
500 * 2 / 12288 ~ 0.08 for every task; Flux editing at 1024^2 (16 x 128 x 128), 0.6 * 1000 * 2 / 262144 ~ 0.0046.
Per element, the step does not shrink with the resolution; step_size 1 projects x0 onto the measurement where W = 1
(inpainting, super-resolution).

Operators A (tasks) and measurements y: inpaint (identity, y = x_src; W = 1 - mask keeps the unmasked region),
deblur (Gaussian blur, 11 taps, zero padding, y = x_src the blurred image; the official kernel grid is off-centre by
half a pixel, this one is centred), super_resolution_x2/x4 (average pooling, y = the block means of x_src, so
x_src is the low-resolution image scaled up). In a latent model the operators act on the latent (the official
latent-model code decodes with the VAE for deblur/super-resolution and backpropagates through it).

Editing (official Flux pipeline): for steps i < source_steps the target is the whole source (A = identity, W = 1);
while steering, the velocity is v_tar + edit_cfg * mask * (v_tar - v_src) (the source prompt as the negative, in the
masked region only). edit_cfg = 0 (or no mask) never calls v_src. step_size = 0 is plain Euler sampling of v_tar.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from kornia.filters import filter2d, get_gaussian_kernel2d

from .common import Callback, Velocity, compute, decreasing_sigmas, report

FLOWCHEF_TASKS = ("inpaint", "deblur", "super_resolution_x2", "super_resolution_x4")
BLUR_TAPS = 11   # official RF++ kernel size
Operator = Callable[[torch.Tensor], torch.Tensor]


def check_flowchef_options(task: str, step_size: float, optimization_steps: int, max_steps: int | None,
                           source_steps: int, edit_cfg: float, blur_sigma: float) -> None:
    """Raise naming the option that is out of range."""
    if task not in FLOWCHEF_TASKS:
        raise ValueError(f"task: expected one of {', '.join(FLOWCHEF_TASKS)}, got {ascii(task)}")
    for name, value in (("step_size", step_size), ("edit_cfg", edit_cfg)):
        if not 0.0 <= value < float("inf"):
            raise ValueError(f"{name}: expected a finite value >= 0, got {value!r}")
    if not 0.0 < blur_sigma < float("inf"):
        raise ValueError(f"blur_sigma: expected a finite blur width > 0, got {blur_sigma!r}")
    if optimization_steps < 0 or source_steps < 0 or (max_steps is not None and max_steps < 0):
        raise ValueError(f"optimization_steps/source_steps/max_steps: expected counts >= 0, got {optimization_steps}, "
                         f"{source_steps}, {max_steps}")


def _planes(x: torch.Tensor) -> torch.Tensor:
    """[B, ..., H, W] -> [B, C', H, W] so 2-D filters apply to every channel (and frame)."""
    return x.reshape(x.shape[0], -1, *x.shape[-2:])


def measurement_operator(task: str, blur_sigma: float = 1.0) -> tuple[Operator, Operator]:
    """(A, B) of a task on [B, C', H, W] tensors, both linear: B = A^T, times s^2 for x s super-resolution."""
    if task == "inpaint":
        return (lambda x: x), (lambda r: r)
    if task == "deblur":
        def blur(x: torch.Tensor) -> torch.Tensor:
            kernel = get_gaussian_kernel2d(BLUR_TAPS, (blur_sigma, blur_sigma), device=x.device, dtype=x.dtype)
            return filter2d(x, kernel, border_type="constant")
        return blur, blur   # a symmetric kernel with zero padding is its own adjoint
    scale = 2 if task == "super_resolution_x2" else 4
    return (lambda x: F.avg_pool2d(x, scale)), (lambda r: F.interpolate(r, scale_factor=scale))


def _check_shape(task: str, x_src: torch.Tensor) -> None:
    if x_src.ndim < 4:
        raise ValueError(f"x_src: expected a latent [batch, channels, (frames,) h, w], got shape {list(x_src.shape)}")
    scale = {"super_resolution_x2": 2, "super_resolution_x4": 4}.get(task, 1)
    if x_src.shape[-1] % scale or x_src.shape[-2] % scale:
        raise ValueError(f"x_src: {task} needs a latent whose height and width divide by {scale}, got "
                         f"{x_src.shape[-2]} x {x_src.shape[-1]}")


def _free_region(mask: torch.Tensor | None, x_src: torch.Tensor) -> torch.Tensor:
    """The mask as [B, 1, (1,) h, w] in x_src's dtype (zeros without one)."""
    shape = (x_src.shape[0], 1, *([1] * (x_src.ndim - 4)), *x_src.shape[-2:])
    if mask is None:
        return torch.zeros(shape, dtype=x_src.dtype, device=x_src.device)
    if mask.shape[-2:] != x_src.shape[-2:] or mask.shape[0] not in (1, x_src.shape[0]):
        raise ValueError(f"mask: expected a weight [B, 1, h, w] at the latent's size {list(x_src.shape[-2:])}, got "
                         f"shape {list(mask.shape)} (mask_to_latent resizes a ComfyUI MASK)")
    return mask.to(x_src).reshape(mask.shape[0], 1, *shape[2:]).expand(shape)


def at_measurement(task: str, x: torch.Tensor) -> torch.Tensor:
    """A full-resolution tensor at the measurement's resolution: block means for x2/x4, else itself."""
    return measurement_operator(task)[0](x) if task.startswith("super_resolution") else x


def steer(x: torch.Tensor, v: torch.Tensor, sigma: float, y: torch.Tensor, weight: torch.Tensor, forward: Operator,
          adjoint: Operator, step_size: float, optimization_steps: int) -> torch.Tensor:
    """Gradient-skipping steps: x <- x - step_size * B(W * (A(x - sigma v) - y)), v held fixed."""
    shape = x.shape
    x, v = _planes(x), _planes(v)
    for _ in range(optimization_steps):
        x = x - step_size * adjoint(weight * (forward(x - sigma * v) - y))
    return x.reshape(shape)


def flowchef(v_src: Velocity, v_tar: Velocity, x_src: torch.Tensor, sigmas: torch.Tensor, noise: torch.Tensor,
             task: str = "inpaint", mask: torch.Tensor | None = None, step_size: float = 0.08,
             optimization_steps: int = 1, max_steps: int | None = None, source_steps: int = 0, edit_cfg: float = 0.0,
             blur_sigma: float = 1.0, callback: Callback = None) -> torch.Tensor:
    """FlowChef (arXiv 2412.00100) over decreasing `sigmas` (T steps) from sigma_0 * noise + (1 - sigma_0) * x_src
    (pure noise at sigma_0 = 1, as officially). `mask`: [B, 1, h, w] in [0, 1] at the latent's resolution, 1 = the
    region free to change (None: nothing). Steering runs on steps i < max_steps (None: all).
    Model calls: T of v_tar, plus min(max_steps, T) of v_src when edit_cfg > 0 and a mask is given."""
    check_flowchef_options(task, step_size, optimization_steps, max_steps, source_steps, edit_cfg, blur_sigma)
    _check_shape(task, x_src)
    values = decreasing_sigmas(sigmas)
    steps = len(values) - 1
    max_steps = steps if max_steps is None else max_steps
    x_src = compute(x_src)
    free = _free_region(mask, x_src)
    forward, adjoint = measurement_operator(task, blur_sigma)
    measured = at_measurement(task, _planes(x_src))    # y: the source itself (its block means for x2/x4)
    keep = at_measurement(task, _planes(1.0 - free).expand_as(_planes(x_src)))   # W = 1 - mask
    identity, everywhere = (lambda t: t), torch.ones((), dtype=x_src.dtype, device=x_src.device)
    x = values[0] * compute(noise).to(x_src) + (1.0 - values[0]) * x_src
    for i in range(steps):
        sigma, sigma_next = values[i], values[i + 1]
        v = v_tar(x, sigma)
        if i < max_steps:
            if edit_cfg > 0.0 and mask is not None:
                v = v + edit_cfg * free * (v - v_src(x, sigma))
            if step_size > 0.0:
                if i < source_steps:
                    x = steer(x, v, sigma, _planes(x_src), everywhere, identity, identity, step_size,
                              optimization_steps)
                else:
                    x = steer(x, v, sigma, measured, keep, forward, adjoint, step_size, optimization_steps)
        report(callback, i, x, x - sigma * v, sigma)
        x = x + (sigma_next - sigma) * v
    return x
