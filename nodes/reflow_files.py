"""Which UNet checkpoints the reflow loader nodes offer, by ComfyUI's own model folders.

Single files come from ComfyUI's "diffusion_models" folder (models/diffusion_models/ and the legacy
models/unet/); diffusers UNet folders (config.json + diffusion_pytorch_model*.safetensors) from its "diffusers"
folder (models/diffusers/), listed as "[diffusers] <relative folder>". A node resolves a name only through this
listing: anything else is refused by name, so no path a user types reaches the file system.
"""
from __future__ import annotations

import os
from pathlib import Path

import folder_paths
from comfy_api.latest import io

from .errors import quoted
from .reflow_unet_config import ReflowCheckpointError
from .reflow_unet_read import WEIGHTS_STEM

UNET_FOLDER = "diffusion_models"
DIFFUSERS_FOLDER = "diffusers"
DIFFUSERS_TAG = "[diffusers] "
MAX_DEPTH = 3          # models/diffusers/<pipeline>/unet is depth 2; one more level for an organisation folder
MAX_LISTED = 12        # names an error message lists


def is_unet_folder(folder: Path) -> bool:
    """A diffusers model folder: config.json and at least one diffusion_pytorch_model* weights file."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    return "config.json" in names and any(n.startswith(WEIGHTS_STEM) for n in names)


def diffusers_unet_folders(root: Path) -> dict[str, Path]:
    """Relative name -> folder for every diffusers model folder under `root`, at most MAX_DEPTH levels deep."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for current, dirs, _files in os.walk(root, followlinks=True):
        here = Path(current)
        depth = len(here.relative_to(root).parts)
        if depth >= MAX_DEPTH:
            dirs[:] = []
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if depth > 0 and is_unet_folder(here):
            found[here.relative_to(root).as_posix()] = here
    return found


def unet_choices() -> dict[str, Path]:
    """Every UNet a reflow loader can pick: display name -> path (files first, then diffusers folders)."""
    choices: dict[str, Path] = {}
    for name in folder_paths.get_filename_list(UNET_FOLDER):
        full = folder_paths.get_full_path(UNET_FOLDER, name)
        if full is not None:
            choices[name] = Path(full)
    for root in folder_paths.get_folder_paths(DIFFUSERS_FOLDER):
        for relative, folder in diffusers_unet_folders(Path(root)).items():
            choices.setdefault(DIFFUSERS_TAG + relative, folder)
    return choices


def unet_names() -> list[str]:
    return list(unet_choices())


def unet_input(what: str) -> io.Combo.Input:
    """The `unet` combo of the reflow loaders: every listed UNet file or diffusers folder, with `what` it holds."""
    return io.Combo.Input("unet", options=unet_names(), tooltip=(
        f"{what}: a .safetensors with diffusers keys in models/{UNET_FOLDER}/ (config from <name>.json beside it, "
        f"else the base's standard layout) or a diffusers UNet folder (config.json + "
        f"{WEIGHTS_STEM}[.variant].safetensors) in models/{DIFFUSERS_FOLDER}/, e.g. the checkpoint's unet/ folder. "
        "Pickled .ckpt/.bin files are refused: convert them with rectiflow-convert-ckpt."))


def unet_path(name: str, input_name: str) -> Path:
    """The checkpoint for a listed name; a name not in the listing is refused (no path traversal)."""
    choices = unet_choices()
    if name not in choices:
        listed = list(choices)[:MAX_LISTED]
        raise ReflowCheckpointError(
            f"{input_name}: {quoted(name)} is not a UNet in ComfyUI's model folders; expected a .safetensors file in "
            f"models/{UNET_FOLDER}/ (or models/unet/) or a diffusers UNet folder (config.json + "
            f"{WEIGHTS_STEM}.safetensors) in models/{DIFFUSERS_FOLDER}/, listed as '{DIFFUSERS_TAG}<folder>'; "
            f"found {listed or 'none'}")
    return choices[name]
