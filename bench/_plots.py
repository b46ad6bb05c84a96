"""Minimal PIL line charts for the benchmarks (matplotlib is not in the environment): log axes, many series."""
from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

PALETTE = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (0, 0, 128), (128, 0, 0),
           (0, 128, 128), (255, 0, 255), (0, 200, 100), (100, 60, 200), (200, 160, 0), (70, 70, 70),
           (0, 90, 200), (220, 80, 140), (90, 160, 60), (170, 110, 40)]
PANEL, MARGIN, LEGEND_W = (560, 400), 56, 190


def _axis(values: list[float], log: bool) -> tuple[float, float, callable]:
    transform = (lambda v: math.log10(v)) if log else (lambda v: v)
    finite = [transform(v) for v in values if v is not None and math.isfinite(v) and (v > 0 or not log)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    return lo, (hi if hi > lo else lo + 1.0), transform


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    """Tick positions in axis units (log10 units on a log axis): decades, or 5 even ticks when under 2 decades."""
    decades = [float(k) for k in range(math.floor(lo), math.ceil(hi) + 1) if lo - 1e-9 <= k <= hi + 1e-9]
    return decades if log and len(decades) >= 2 else [lo + (hi - lo) * k / 4 for k in range(5)]


def _x_ticks(xs: list[float], lo: float, hi: float, log: bool) -> list[float]:
    """The data's own x values when there are few (NFE budgets), else round ticks."""
    distinct = sorted({x for x in xs if x is not None and math.isfinite(x) and (x > 0 or not log)})
    if len(distinct) <= 12:
        return distinct
    return [10 ** t for t in _ticks(lo, hi, True)] if log else _ticks(lo, hi, False)


def line_chart(title: str, series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str,
               log_x: bool = True, log_y: bool = True, dashed: set[str] | None = None) -> Image.Image:
    """One panel: named series of (x, y) points; non-finite or non-positive (log) points are skipped."""
    dashed = dashed or set()
    img = Image.new("RGB", (PANEL[0] + LEGEND_W, PANEL[1]), "white")
    draw = ImageDraw.Draw(img)
    w, h = PANEL[0] - 2 * MARGIN, PANEL[1] - 2 * MARGIN
    x_lo, x_hi, fx = _axis([p[0] for pts in series.values() for p in pts], log_x)
    y_lo, y_hi, fy = _axis([p[1] for pts in series.values() for p in pts], log_y)

    def to_px(x: float, y: float) -> tuple[float, float]:
        return (MARGIN + (fx(x) - x_lo) / (x_hi - x_lo) * w, MARGIN + h - (fy(y) - y_lo) / (y_hi - y_lo) * h)

    draw.rectangle([MARGIN, MARGIN, MARGIN + w, MARGIN + h], outline=(0, 0, 0))
    draw.text((MARGIN, 10), title, fill=(0, 0, 0))
    draw.text((MARGIN + w // 2 - 20, MARGIN + h + 26), x_label, fill=(0, 0, 0))
    draw.text((4, MARGIN - 18), y_label, fill=(0, 0, 0))
    for t in _x_ticks([p[0] for pts in series.values() for p in pts], x_lo, x_hi, log_x):
        px = MARGIN + (fx(t) - x_lo) / (x_hi - x_lo) * w
        draw.line([(px, MARGIN + h), (px, MARGIN + h + 4)], fill=(0, 0, 0))
        draw.text((px - 6, MARGIN + h + 8), f"{t:.3g}", fill=(0, 0, 0))
    for t in _ticks(y_lo, y_hi, log_y):
        py = MARGIN + h - (t - y_lo) / (y_hi - y_lo) * h
        draw.line([(MARGIN - 4, py), (MARGIN + w, py)], fill=(225, 225, 225))
        draw.text((2, py - 6), f"{10 ** t:.2g}" if log_y else f"{t:.3g}", fill=(0, 0, 0))
    for k, (name, points) in enumerate(series.items()):
        colour = PALETTE[k % len(PALETTE)]
        ok = [to_px(x, y) for x, y in points if y is not None and math.isfinite(y) and (y > 0 or not log_y)]
        _polyline(draw, ok, colour, name in dashed)
        for px, py in ok:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
        ly = MARGIN + 14 * k
        _polyline(draw, [(PANEL[0] + 4, ly + 6), (PANEL[0] + 24, ly + 6)], colour, name in dashed)
        draw.text((PANEL[0] + 28, ly), name, fill=colour)
    return img


def _polyline(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], colour, dashed: bool) -> None:
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        if not dashed:
            draw.line([(x0, y0), (x1, y1)], fill=colour, width=2)
            continue
        pieces = max(1, int(math.hypot(x1 - x0, y1 - y0) // 6))
        for i in range(0, pieces, 2):
            a, b = i / pieces, min(1.0, (i + 1) / pieces)
            draw.line([(x0 + a * (x1 - x0), y0 + a * (y1 - y0)), (x0 + b * (x1 - x0), y0 + b * (y1 - y0))],
                      fill=colour, width=2)


def save_grid(panels: list[Image.Image], path: Path, columns: int = 2) -> Path:
    """Tile panels row-major into one PNG."""
    rows = -(-len(panels) // columns)
    pw, ph = panels[0].size
    sheet = Image.new("RGB", (columns * pw, rows * ph), "white")
    for i, panel in enumerate(panels):
        sheet.paste(panel, ((i % columns) * pw, (i // columns) * ph))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
