"""Small PIL line charts and one grid tiler (no matplotlib at run time), shared by the nodes and the benchmarks.

Charts are PIL images; `tile_grid` (torchvision's make_grid) tiles IMAGE batches and, through `grid_image` and
`to_image_tensor`, chart panels.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision.utils import make_grid

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (0, 0, 128), (128, 0, 0),
           (0, 128, 128), (255, 0, 255), (0, 200, 100), (100, 60, 200), (200, 160, 0), (70, 70, 70),
           (0, 90, 200), (220, 80, 140), (90, 160, 60), (170, 110, 40)]
PANEL = (420, 300)  # the nodes' panel size (width, height)
MARGIN = 46
MARKER = (255, 127, 14)
Point = tuple[float, float]


def _valid(v, log: bool) -> bool:
    return v is not None and math.isfinite(v) and (v > 0 or not log)


def _axis(values: list[float], log: bool) -> tuple[float, float, Callable[[float], float]]:
    """(low, high, transform) of one axis in axis units (log10 units on a log axis)."""
    transform = math.log10 if log else (lambda v: v)
    finite = [transform(v) for v in values if _valid(v, log)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    return lo, (hi if hi > lo else lo + 1.0), transform


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    """Tick positions in axis units: decades, or 5 even ticks when under 2 decades."""
    decades = [float(k) for k in range(math.floor(lo), math.ceil(hi) + 1) if lo - 1e-9 <= k <= hi + 1e-9]
    return decades if log and len(decades) >= 2 else [lo + (hi - lo) * k / 4 for k in range(5)]


def _x_ticks(xs: list[float], lo: float, hi: float, log: bool) -> list[float]:
    """The data's own x values when there are few (NFE budgets, step counts), else round ticks."""
    distinct = sorted({x for x in xs if _valid(x, log)})
    if len(distinct) <= 12:
        return distinct
    return [10 ** t for t in _ticks(lo, hi, True)] if log else _ticks(lo, hi, False)


def _polyline(draw: ImageDraw.ImageDraw, points: list[Point], colour, dashed: bool) -> None:
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        if not dashed:
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=2)
            continue
        pieces = max(1, int(math.hypot(x1 - x0, y1 - y0) // 6))
        for i in range(0, pieces, 2):
            a, b = i / pieces, min(1.0, (i + 1) / pieces)
            draw.line([(x0 + a * (x1 - x0), y0 + a * (y1 - y0)), (x0 + b * (x1 - x0), y0 + b * (y1 - y0))],
                      fill=colour, width=2)


def line_chart(title: str, series: dict[str, list[Point]], x_label: str = "", y_label: str = "",
               log_x: bool = False, log_y: bool = False, dashed: set[str] | frozenset = frozenset(),
               colours: dict[str, tuple[int, int, int]] | None = None, marker_x: float | None = None,
               labelled_points: dict[str, Point] | None = None, size: tuple[int, int] = PANEL,
               margin: int = MARGIN, legend_width: int = 0) -> Image.Image:
    """One panel of named series of (x, y) points, with ticks; points that are non-finite (or non-positive on a log
    axis) are skipped. `marker_x` draws a vertical line, `labelled_points` square markers with their names. The
    legend sits in a `legend_width` column right of the panel, or inside its top right corner when that is 0."""
    colours = colours or {}
    img = Image.new("RGB", (size[0] + legend_width, size[1]), "white")
    draw = ImageDraw.Draw(img)
    w, h = size[0] - 2 * margin, size[1] - 2 * margin
    points = [p for pts in series.values() for p in pts] + list((labelled_points or {}).values())
    x_lo, x_hi, fx = _axis([p[0] for p in points], log_x)
    y_lo, y_hi, fy = _axis([p[1] for p in points], log_y)

    def px_x(x: float) -> float:
        return margin + (fx(x) - x_lo) / (x_hi - x_lo) * w

    def to_px(x: float, y: float) -> Point:
        return px_x(x), margin + h - (fy(y) - y_lo) / (y_hi - y_lo) * h

    draw.rectangle([margin, margin, margin + w, margin + h], outline=(0, 0, 0))
    draw.text((margin, 10), title, fill=(0, 0, 0))
    draw.text((margin + w // 2 - 20, margin + h + 26), x_label, fill=(0, 0, 0))
    draw.text((4, margin - 18), y_label, fill=(0, 0, 0))
    for t in _x_ticks([p[0] for p in points], x_lo, x_hi, log_x):
        px = px_x(t)
        draw.line([(px, margin + h), (px, margin + h + 4)], fill=(0, 0, 0))
        draw.text((px - 6, margin + h + 8), f"{t:.3g}", fill=(0, 0, 0))
    for t in _ticks(y_lo, y_hi, log_y):
        py = margin + h - (t - y_lo) / (y_hi - y_lo) * h
        draw.line([(margin - 4, py), (margin + w, py)], fill=(225, 225, 225))
        draw.text((2, py - 6), f"{10 ** t:.2g}" if log_y else f"{t:.3g}", fill=(0, 0, 0))
    legend_x = size[0] + 4 if legend_width else margin + w - 150
    for k, (name, pts) in enumerate(series.items()):
        colour = colours.get(name, PALETTE[k % len(PALETTE)])
        ok = [to_px(x, y) for x, y in pts if _valid(x, log_x) and _valid(y, log_y)]
        _polyline(draw, ok, colour, name in dashed)
        for px, py in ok:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
        ly = margin + 6 + 14 * k
        _polyline(draw, [(legend_x, ly + 6), (legend_x + 20, ly + 6)], colour, name in dashed)
        draw.text((legend_x + 24, ly), name, fill=colour)
    if marker_x is not None and _valid(marker_x, log_x):
        mx = px_x(marker_x)
        draw.line([(mx, margin), (mx, margin + h)], fill=MARKER, width=2)
    for name, (x, y) in (labelled_points or {}).items():
        if _valid(x, log_x) and _valid(y, log_y):
            px, py = to_px(x, y)
            draw.rectangle([px - 4, py - 4, px + 4, py + 4], outline=(0, 150, 150), width=2)
            draw.text((px + 6, py - 6), name, fill=(0, 150, 150))
    return img


def line_panel(title: str, xs: list[float], series: dict[str, list[float]], log_y: bool = False,
               x_label: str = "", marker_x: float | None = None) -> Image.Image:
    """A node panel: several named series over shared xs, optional log10 y axis and a vertical marker."""
    return line_chart(title, {name: list(zip(xs, ys)) for name, ys in series.items()}, x_label, log_y=log_y,
                      marker_x=marker_x)


def tile_grid(images: torch.Tensor, columns: int, pad_value: float = 0.0) -> torch.Tensor:
    """IMAGE batch [B, H, W, C] -> [1, rows*H, columns*W, C], row-major, empty cells filled with pad_value
    (torchvision's make_grid without padding; like make_grid it returns C = 1 as 3 channels)."""
    b = images.shape[0]
    rows = -(-b // columns)
    filler = images.new_full((rows * columns - b, *images.shape[1:]), pad_value)
    batch = torch.cat([images, filler]).movedim(-1, 1)
    return make_grid(batch, nrow=columns, padding=0, pad_value=pad_value).movedim(0, -1)[None]


def grid_image(panels: list[Image.Image], columns: int) -> Image.Image:
    """Equal-size RGB panels tiled row-major, `columns` per row, on white."""
    stacked = torch.stack([torch.from_numpy(np.array(p.convert("RGB"))) for p in panels])
    return Image.fromarray(tile_grid(stacked, columns, pad_value=255)[0].numpy())


def to_image_tensor(panels: list[Image.Image], columns: int | None = None) -> torch.Tensor:
    """Panels row-major, `columns` per row (default: all side by side) -> IMAGE [1, H, W, 3] in [0, 1]."""
    grid = grid_image(panels, columns or len(panels))
    return torch.from_numpy(np.asarray(grid, dtype=np.float32) / 255.0)[None]


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
