"""Embedded digits model: loader, label conditioning, empty latent, latent -> image."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from comfy_api.latest import io

import comfy.model_management
import comfy.model_patcher
import folder_paths

from ..models.digits import DEFAULT_CONFIG, IMAGE_SIZE, NULL_LABEL, DigitsUNet, label_one_hot
from .errors import quoted
from .flow_models import flow_model_patcher, plain_latent_format
from .plots import tile_grid
from .validation import RectiFlowNode

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
EMBEDDED_MODEL = "digits_rf.safetensors"
DIGITS_FORMAT = "rectiflow.digits"
MODEL_FOLDER = "rectiflow_digits"   # ComfyUI model folder: the pack's weights/ plus models/rectiflow_digits/
CATEGORY = "sampling/rectiflow/digits"
# Architecture bounds a checkpoint's metadata must respect before anything is allocated (the shipped model
# has base_channels 32, channel_mults [1, 2, 2], emb_dim 128: 0.59M parameters).
ARCHITECTURE_BOUNDS = {"in_channels": (1, 1), "base_channels": (8, 128), "emb_dim": (8, 512)}
MAX_LEVELS, MAX_MULT = 4, 4


def register_model_folder() -> None:
    """Let ComfyUI's folder_paths find digits checkpoints (its documented way for packs to add a folder)."""
    folder_paths.add_model_folder_path(MODEL_FOLDER, str(WEIGHTS_DIR))
    folder_paths.add_model_folder_path(MODEL_FOLDER, os.path.join(folder_paths.models_dir, MODEL_FOLDER))


register_model_folder()


DigitsLatentFormat = plain_latent_format(1, rgb_factors=[[1.0, 1.0, 1.0]])  # grey previews of [-1, 1] pixels


class DigitsCheckpointError(ValueError):
    """A file that is missing, corrupt, or not a RectiFlow digits checkpoint."""


def checked_architecture(raw: str, name: str, input_name: str) -> dict:
    """Parse a checkpoint's `architecture` metadata and check it against ARCHITECTURE_BOUNDS."""
    expected = (f"expected a JSON object with in_channels 1, base_channels 8-128 (a multiple of 8), "
                f"channel_mults of 1-{MAX_LEVELS} integers 1-{MAX_MULT}, emb_dim 8-512 (even)")
    try:
        given = json.loads(raw)
    except ValueError:
        given = None
    if not isinstance(given, dict) or not set(given) <= set(DEFAULT_CONFIG):
        raise DigitsCheckpointError(f"{input_name}: {name} has unusable architecture metadata; {expected}")
    config = {**DEFAULT_CONFIG, **given}
    ints_ok = all(type(config[k]) is int and lo <= config[k] <= hi for k, (lo, hi) in ARCHITECTURE_BOUNDS.items())
    mults = config["channel_mults"]
    mults_ok = (isinstance(mults, list) and 1 <= len(mults) <= MAX_LEVELS
                and all(type(m) is int and 1 <= m <= MAX_MULT for m in mults))
    if not (ints_ok and mults_ok and config["base_channels"] % 8 == 0 and config["emb_dim"] % 2 == 0):
        raise DigitsCheckpointError(f"{input_name}: {name} has architecture metadata out of bounds; {expected}")
    return config


def read_digits_checkpoint(path: Path, input_name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a safetensors digits checkpoint (never unpickles); return (state_dict, architecture config)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    name = quoted(path.name)
    if path.suffix != ".safetensors":
        raise DigitsCheckpointError(f"{input_name}: {name} is not a .safetensors file; RectiFlow loads "
                                    "safetensors only and never unpickles checkpoints")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise DigitsCheckpointError(f"{input_name}: {name} is corrupt or not a safetensors file") from e
    if meta.get("format") != DIGITS_FORMAT or meta.get("kind") != "flow":
        raise DigitsCheckpointError(f"{input_name}: {name} is not a RectiFlow digits flow checkpoint "
                                    f"(metadata format={quoted(meta.get('format'))}, kind={quoted(meta.get('kind'))}; "
                                    f"expected format='{DIGITS_FORMAT}', kind='flow')")
    config = checked_architecture(meta.get("architecture", "{}"), name, input_name)
    try:
        state_dict = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise DigitsCheckpointError(f"{input_name}: {name} is corrupt or not a safetensors file") from e
    bad = [k for k, t in state_dict.items() if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise DigitsCheckpointError(f"{input_name}: {name} holds non-finite weights (NaN or inf) in "
                                    f"{len(bad)} tensor(s), first {quoted(bad[0])}")
    return state_dict, config


def load_digits_model(path: Path, input_name: str = "model_name") -> comfy.model_patcher.ModelPatcher:
    """Build a ComfyUI MODEL (flow/CONST sampling) from a digits checkpoint."""
    state_dict, config = read_digits_checkpoint(path, input_name)
    patcher = flow_model_patcher(DigitsUNet, config, DigitsLatentFormat)
    try:
        patcher.model.diffusion_model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise DigitsCheckpointError(f"{input_name}: {quoted(path.name)} does not match the digits architecture "
                                    f"{config} (missing, unexpected or mis-shaped tensors)") from e
    return patcher


def available_checkpoints() -> list[str]:
    """Digits checkpoints in the model folder: the shipped ones first, then the user's."""
    names = [n for n in folder_paths.get_filename_list(MODEL_FOLDER)
             if n.endswith(".safetensors") and not Path(n).name.startswith("digits_classifier")]
    return sorted(names, key=lambda n: (n != EMBEDDED_MODEL, n)) or [EMBEDDED_MODEL]


def checkpoint_path(model_name: str) -> Path:
    """The file for a model_name from the model folder list; anything else is refused by name."""
    if model_name not in available_checkpoints():
        raise DigitsCheckpointError(f"model_name: {quoted(model_name)} is not a digits checkpoint in ComfyUI's "
                                    f"'{MODEL_FOLDER}' model folder (the pack's weights/ or "
                                    f"models/{MODEL_FOLDER}/); expected one of {available_checkpoints()}")
    return Path(folder_paths.get_full_path_or_raise(MODEL_FOLDER, model_name))


class DigitsModelLoader(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowDigitsModelLoader",
            display_name="RectiFlow Digits Model Loader",
            category=CATEGORY,
            description="Loads RectiFlow's embedded class-conditional rectified-flow digits model (16x16, "
                        "velocity prediction, flow sigmas 1 = noise) as a ComfyUI MODEL.",
            inputs=[
                io.Combo.Input("model_name", options=available_checkpoints(), default=EMBEDDED_MODEL,
                               tooltip="Digits checkpoint: the ones shipped in the pack's weights/ folder (digits_rf: "
                                       "the teacher, CFG 3 and 32 steps; digits_rf_2rf: its 2-rectified flow, 2 steps; "
                                       "digits_rf_1step: one step; both reflowed ones at cfg 1), and "
                                       f"any RectiFlow digits .safetensors you put in models/{MODEL_FOLDER}/."),
            ],
            outputs=[io.Model.Output(tooltip="Flow (CONST) model; works with KSampler and custom samplers.")],
        )

    @classmethod
    def execute(cls, model_name: str) -> io.NodeOutput:
        return io.NodeOutput(load_digits_model(checkpoint_path(model_name), "model_name"))


MAX_LABELS = 4096  # the largest batch DigitsEmptyLatent makes


def parse_labels(text: str) -> list[int]:
    """'0 1 2, null' -> [0, 1, 2, NULL_LABEL]; raises naming the bad token."""
    tokens = [t for t in re.split(r"[\s,;]+", text.strip()) if t]
    if not tokens:
        raise ValueError("labels: expected at least one digit 0-9 or 'null', got an empty string")
    if len(tokens) > MAX_LABELS:
        raise ValueError(f"labels: expected at most {MAX_LABELS} labels, got {len(tokens)}")
    labels = []
    for tok in tokens:
        if tok.lower() in ("null", "none", "uncond", "-"):
            labels.append(NULL_LABEL)
        elif re.fullmatch(r"[+-]?\d{1,4}", tok) and 0 <= int(tok) <= 9:
            labels.append(int(tok))
        else:
            raise ValueError(f"labels: {quoted(tok)} is not a digit label; expected integers 0-9 or 'null'")
    return labels


class DigitsLabelConditioning(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowDigitsLabel",
            display_name="RectiFlow Digits Label",
            category=CATEGORY,
            description="Turns digit labels into CONDITIONING for the digits model. Several labels are given to "
                        "consecutive batch items and repeat across the batch; 'null' is the unconditional label "
                        "for the negative input of classifier-free guidance.",
            inputs=[
                io.String.Input("labels", default="0 1 2 3 4 5 6 7 8 9",
                                tooltip="Digits 0-9 separated by spaces or commas, or 'null' for the "
                                        "unconditional label. Batch item i gets label i mod count."),
            ],
            outputs=[io.Conditioning.Output()],
        )

    @classmethod
    def execute(cls, labels: str) -> io.NodeOutput:
        context = label_one_hot(torch.tensor(parse_labels(labels)))
        return io.NodeOutput([[context, {}]])


class DigitsEmptyLatent(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowDigitsEmptyLatent",
            display_name="RectiFlow Digits Empty Latent",
            category=CATEGORY,
            description="An empty 1x16x16 pixel-space latent batch for the digits model.",
            inputs=[io.Int.Input("batch_size", default=10, min=1, max=4096,
                                 tooltip="Number of digits to generate.")],
            outputs=[io.Latent.Output()],
        )

    @classmethod
    def execute(cls, batch_size: int) -> io.NodeOutput:
        latent = torch.zeros([batch_size, 1, IMAGE_SIZE, IMAGE_SIZE], device=comfy.model_management.intermediate_device())
        return io.NodeOutput({"samples": latent})


def check_digits_latent(samples: torch.Tensor, input_name: str = "samples") -> None:
    expected = (1, IMAGE_SIZE, IMAGE_SIZE)
    if samples.ndim != 4 or tuple(samples.shape[1:]) != expected:
        raise ValueError(f"{input_name}: expected a digits latent of shape [batch, 1, {IMAGE_SIZE}, {IMAGE_SIZE}], "
                         f"got {list(samples.shape)}")


MAX_IMAGE_BYTES = 2 << 30   # float32 RGB IMAGE the node will build (the grid needs as much again)


def check_image_size(batch: int, scale: int) -> None:
    size = batch * (IMAGE_SIZE * scale) ** 2 * 3 * 4
    if size > MAX_IMAGE_BYTES:
        raise ValueError(f"samples/scale: a batch of {batch} at scale {scale} makes a {size / 2**30:.1f} GiB IMAGE; "
                         f"expected at most {MAX_IMAGE_BYTES / 2**30:.0f} GiB (lower the scale or the batch)")


class DigitsLatentToImage(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowDigitsLatentToImage",
            display_name="RectiFlow Digits Latent to Image",
            category=CATEGORY,
            description="Converts a digits latent (pixels in [-1, 1]) into an IMAGE, optionally upscaled and tiled "
                        "into one grid.",
            inputs=[
                io.Latent.Input("samples", tooltip="Digits latent [batch, 1, 16, 16]."),
                io.Int.Input("scale", default=4, min=1, max=64,
                             tooltip="Nearest-neighbour upscale factor so 16x16 digits are visible."),
                io.Int.Input("grid_columns", default=0, min=0, max=256,
                             tooltip="0 returns one image per batch item; N tiles the batch into one grid "
                                     "with N columns."),
            ],
            outputs=[io.Image.Output()],
        )

    @classmethod
    def execute(cls, samples: dict, scale: int = 4, grid_columns: int = 0) -> io.NodeOutput:
        x = samples["samples"]
        check_digits_latent(x)
        check_image_size(x.shape[0], scale)
        x = ((x.float().cpu() + 1) / 2).clamp(0, 1)
        x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest")
        images = x.movedim(1, -1).repeat(1, 1, 1, 3)
        if grid_columns > 0:
            images = tile_grid(images, grid_columns)
        return io.NodeOutput(images)


DIGITS_NODES = [DigitsModelLoader, DigitsLabelConditioning, DigitsEmptyLatent, DigitsLatentToImage]
