"""Make each example workflow's template thumbnail from its real output.

    python scripts/make_thumbnails.py [workflows/x.json ...] [--server URL | --comfyui PATH]

Runs every workflow headless through a real ComfyUI server (scripts/run_workflow.py, as a command), takes the
image saved by the workflow's first SaveImage node and writes `workflows/<name>.jpg` next to it. The ComfyUI
frontend (comfyui-frontend-package 1.32) shows a custom node pack's template `<name>` with the picture at
`/api/workflow_templates/<pack>/<name>.jpg`, which ComfyUI serves from the pack's workflows/ folder.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "scripts" / "run_workflow.py"
THUMBNAIL_SIZE = 384  # pixels on the longer side; the dialog shows cards about 200-300 px wide
JPEG_QUALITY = 88


def first_save_prefix(workflow: dict) -> str:
    """filename_prefix of the workflow's first SaveImage node (lowest order), the picture that represents it."""
    saves = [n for n in workflow["nodes"] if n["type"] == "SaveImage" and n.get("mode", 0) == 0]
    if not saves:
        raise ValueError("the workflow has no SaveImage node to make a thumbnail from")
    first = min(saves, key=lambda n: (n.get("order", 0), n["id"]))
    return str(first["widgets_values"][0])


def run_workflow(path: Path, out_dir: Path, runner_args: list[str]) -> None:
    """Run one workflow through scripts/run_workflow.py (on --server, else on a server it starts and stops)."""
    subprocess.run([sys.executable, str(RUNNER), str(path), "--out", str(out_dir), *runner_args], check=True)


def saved_image(out_dir: Path, prefix: str) -> Path:
    """The PNG SaveImage wrote as `<prefix>_00001_.png` (the runner downloads it into out_dir)."""
    found = sorted(p for p in out_dir.rglob("*.png") if p.name.startswith(f"{Path(prefix).name}_"))
    if not found:
        raise FileNotFoundError(f"no image with prefix {prefix!r} in {out_dir}")
    return found[0]


def fold_wide(image: Image.Image) -> Image.Image:
    """Cut a wide image (a row of samples) into k equal vertical strips stacked top to bottom, k = round(sqrt(w/h)),
    so the square template card shows all of it bigger."""
    strips = max(1, round((image.width / image.height) ** 0.5))
    if strips == 1:
        return image
    width = image.width // strips
    folded = Image.new(image.mode, (width, image.height * strips))
    for i in range(strips):
        folded.paste(image.crop((i * width, 0, (i + 1) * width, image.height)), (0, i * image.height))
    return folded


def square(image: Image.Image, size: int) -> Image.Image:
    """Fit into size x size on black (nearest neighbour when enlarging: digit grids stay crisp)."""
    scale = size / max(image.size)
    fitted = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                          Image.NEAREST if scale >= 1 else Image.LANCZOS)
    canvas = Image.new("RGB", (size, size))
    canvas.paste(fitted, ((size - fitted.width) // 2, (size - fitted.height) // 2))
    return canvas


def write_thumbnail(image_path: Path, target: Path, size: int = THUMBNAIL_SIZE) -> None:
    """The saved image, folded if wide, on a size x size RGB JPEG (the dialog's cards are square)."""
    with Image.open(image_path) as image:
        square(fold_wide(image.convert("RGB")), size).save(target, "JPEG", quality=JPEG_QUALITY, optimize=True)


def make_thumbnail(path: Path, runner_args: list[str]) -> Path:
    prefix = first_save_prefix(json.loads(path.read_text()))
    with tempfile.TemporaryDirectory(prefix="rectiflow-thumb-") as scratch:
        run_workflow(path, Path(scratch), runner_args)
        target = path.with_suffix(".jpg")
        write_thumbnail(saved_image(Path(scratch), prefix), target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workflows", nargs="*", type=Path, help="workflow files (default: workflows/*.json)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--server", help="URL of a running ComfyUI server (default: the runner starts one)")
    where.add_argument("--comfyui", help="ComfyUI folder the runner starts a server from")
    args = parser.parse_args(argv)
    runner_args = ["--server", args.server] if args.server else ["--comfyui", args.comfyui] if args.comfyui else []
    for path in args.workflows or sorted((ROOT / "workflows").glob("*.json")):
        print(f"wrote {make_thumbnail(path, runner_args)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
