"""Benchmark charts: the pack's one chart helper and grid tiler (nodes/plots.py, as ComfyUI loaded it) at the
benchmarks' panel size, with log axes by default."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

from rectiflow.testing.comfy_host import pack_module

BENCH_PANEL = {"size": (560, 400), "margin": 56, "legend_width": 190}


def line_chart(title: str, series: dict[str, list[tuple[float, float]]], x_label: str, y_label: str,
               log_x: bool = True, log_y: bool = True, dashed: set[str] | None = None, **options) -> Image.Image:
    """One panel: named series of (x, y) points; non-finite or non-positive (log) points are skipped. `options`:
    the other keywords of nodes/plots.py's line_chart (colours, marker_x, labelled_points)."""
    return pack_module("nodes.plots").line_chart(title, series, x_label, y_label, log_x=log_x, log_y=log_y,
                                                 dashed=dashed or set(), **BENCH_PANEL, **options)


def save_grid(panels: list[Image.Image], path: Path, columns: int = 2) -> Path:
    """Tile panels row-major into one PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pack_module("nodes.plots").grid_image(panels, columns).save(path)
    return path
