"""Small PIL line charts returned as ComfyUI IMAGE tensors (no matplotlib at run time)."""
from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw

PANEL = (420, 300)
MARGIN = 46
COLOURS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]


def _scale(values, lo, hi, size, flip=False):
    span = hi - lo if hi > lo else 1.0
    out = [(v - lo) / span * size for v in values]
    return [size - o for o in out] if flip else out


def line_panel(title: str, xs: list[float], series: dict[str, list[float]], log_y: bool = False,
               x_label: str = "", marker_x: float | None = None) -> Image.Image:
    """One chart: several named series over shared xs, optional log10 y axis and a vertical marker."""
    img = Image.new("RGB", PANEL, "white")
    draw = ImageDraw.Draw(img)
    w, h = PANEL[0] - 2 * MARGIN, PANEL[1] - 2 * MARGIN
    transform = (lambda v: math.log10(max(v, 1e-12))) if log_y else (lambda v: v)
    all_y = [transform(v) for ys in series.values() for v in ys if math.isfinite(v)]
    y_lo, y_hi = (min(all_y), max(all_y)) if all_y else (0.0, 1.0)
    x_lo, x_hi = min(xs), max(xs)
    draw.rectangle([MARGIN, MARGIN, MARGIN + w, MARGIN + h], outline=(0, 0, 0))
    draw.text((MARGIN, 8), title, fill=(0, 0, 0))
    draw.text((MARGIN, MARGIN + h + 8), f"{x_label}  [{x_lo:.3g} .. {x_hi:.3g}]", fill=(60, 60, 60))
    y_unit = "log10 " if log_y else ""
    draw.text((MARGIN, 24), f"{y_unit}y in [{y_lo:.3g} .. {y_hi:.3g}]", fill=(60, 60, 60))
    px = [MARGIN + p for p in _scale(xs, x_lo, x_hi, w)]
    for k, (name, ys) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        py = [MARGIN + p for p in _scale([transform(v) for v in ys], y_lo, y_hi, h, flip=True)]
        draw.line(list(zip(px[:len(py)], py)), fill=colour, width=2)
        for x, y in zip(px, py):
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((MARGIN + w - 150, MARGIN + 6 + 14 * k), name, fill=colour)
    if marker_x is not None:
        mx = MARGIN + _scale([marker_x], x_lo, x_hi, w)[0]
        draw.line([(mx, MARGIN), (mx, MARGIN + h)], fill=(255, 127, 14), width=2)
    return img


def to_image_tensor(panels: list[Image.Image], columns: int | None = None) -> torch.Tensor:
    """Panels row-major, `columns` per row (default: all side by side) -> IMAGE [1, H, W, 3] in [0, 1]."""
    columns = columns or len(panels)
    rows = -(-len(panels) // columns)
    canvas = Image.new("RGB", (PANEL[0] * columns, PANEL[1] * rows), "white")
    for i, panel in enumerate(panels):
        canvas.paste(panel, ((i % columns) * PANEL[0], (i // columns) * PANEL[1]))
    return torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0)[None]


def straightness_plot(report) -> torch.Tensor:
    sig = report.sigmas.tolist()
    budgets = list(report.euler_error_by_steps)
    return to_image_tensor([
        line_panel("curvature |dv/dsigma| / |v|", sig[:-1], {"curvature": report.curvature.tolist()},
                   log_y=True, x_label="sigma"),
        line_panel("deviation from the straight chord", sig, {"|v - chord| / |chord|": report.deviation.tolist()},
                   x_label="sigma"),
        line_panel("Euler error vs steps (optimal schedule)", budgets,
                   {"relative RMSE": list(report.euler_error_by_steps.values())}, log_y=True,
                   x_label="steps", marker_x=report.recommended_steps),
    ])
