"""nodes/plots.py: the one grid tiler (torchvision's make_grid) and the one chart helper."""
import math

import torch

from rectiflow.testing.comfy_host import pack_module


def reference_tiling(images: torch.Tensor, columns: int) -> torch.Tensor:
    """Row-major tiling padded with black, written out by hand."""
    b, h, w, c = images.shape
    rows = -(-b // columns)
    out = torch.zeros(1, rows * h, columns * w, c, dtype=images.dtype)
    for i in range(b):
        r, col = divmod(i, columns)
        out[0, r * h:(r + 1) * h, col * w:(col + 1) * w] = images[i]
    return out


def test_tile_grid_is_row_major_and_pads_with_black(comfy):
    plots = pack_module("nodes.plots")
    gen = torch.Generator().manual_seed(0)
    for batch, columns in ((1, 1), (3, 2), (3, 5), (6, 3), (7, 4), (10, 10)):
        images = torch.rand(batch, 5, 4, 3, generator=gen)
        assert torch.equal(plots.tile_grid(images, columns), reference_tiling(images, columns)), (batch, columns)


def test_panels_tile_on_white_into_one_image(comfy):
    plots = pack_module("nodes.plots")
    panels = [plots.line_panel(f"panel {i}", [0.0, 1.0, 2.0], {"a": [1.0, 10.0, 100.0]}, log_y=True,
                               x_label="step", marker_x=1.0) for i in range(5)]
    image = plots.to_image_tensor(panels, columns=3)
    width, height = plots.PANEL
    assert image.shape == (1, 2 * height, 3 * width, 3)
    assert bool((image[0, height:, 2 * width:] == 1).all()), "the empty sixth cell is white"
    assert float(image[0, :height, :width].std()) > 0.01


def test_line_chart_skips_points_a_log_axis_cannot_show(comfy):
    plots = pack_module("nodes.plots")
    series = {"ok": [(1.0, 1.0), (10.0, 100.0)], "bad": [(0.0, 1.0), (5.0, -1.0), (2.0, math.nan)]}
    img = plots.line_chart("log axes", series, "x", "y", log_x=True, log_y=True, legend_width=100)
    assert img.size == (plots.PANEL[0] + 100, plots.PANEL[1])
    empty = plots.line_chart("no data", {}, "x")
    assert empty.size == plots.PANEL
