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

from ..models.digits import DEFAULT_CONFIG, IMAGE_SIZE, NULL_LABEL, DigitsUNet, label_one_hot
from .flow_models import flow_model_patcher, plain_latent_format
from .plots import tile_grid

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
EMBEDDED_MODEL = "digits_rf.safetensors"
DIGITS_FORMAT = "rectiflow.digits"
CATEGORY = "sampling/rectiflow/digits"


DigitsLatentFormat = plain_latent_format(1, rgb_factors=[[1.0, 1.0, 1.0]])  # grey previews of [-1, 1] pixels


class DigitsCheckpointError(ValueError):
    """A file that is missing, corrupt, or not a RectiFlow digits checkpoint."""


def read_digits_checkpoint(path: Path, input_name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a safetensors digits checkpoint (never unpickles); return (state_dict, architecture config)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if not path.is_file():
        raise DigitsCheckpointError(f"{input_name}: model file '{path}' does not exist")
    if path.suffix != ".safetensors":
        raise DigitsCheckpointError(f"{input_name}: '{path.name}' is not a .safetensors file; RectiFlow loads "
                                    "safetensors only and never unpickles checkpoints")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        state_dict = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise DigitsCheckpointError(f"{input_name}: '{path.name}' is corrupt or not a safetensors file ({e})") from e
    if meta.get("format") != DIGITS_FORMAT or meta.get("kind") != "flow":
        raise DigitsCheckpointError(f"{input_name}: '{path.name}' is not a RectiFlow digits flow checkpoint "
                                    f"(metadata format={meta.get('format')!r}, kind={meta.get('kind')!r}; "
                                    f"expected format='{DIGITS_FORMAT}', kind='flow')")
    config = {**DEFAULT_CONFIG, **json.loads(meta.get("architecture", "{}"))}
    return state_dict, config


def load_digits_model(path: Path, input_name: str = "model_file") -> comfy.model_patcher.ModelPatcher:
    """Build a ComfyUI MODEL (flow/CONST sampling) from a digits checkpoint."""
    state_dict, config = read_digits_checkpoint(path, input_name)
    patcher = flow_model_patcher(DigitsUNet, config, DigitsLatentFormat)
    try:
        patcher.model.diffusion_model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise DigitsCheckpointError(f"{input_name}: '{path.name}' does not match the digits architecture "
                                    f"{config}: {e}") from e
    return patcher


def available_checkpoints() -> list[str]:
    return sorted(p.name for p in WEIGHTS_DIR.glob("digits_rf*.safetensors")) or [EMBEDDED_MODEL]


class DigitsModelLoader(io.ComfyNode):
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
                               tooltip="Digits checkpoint shipped in RectiFlow's weights/ folder."),
                io.String.Input("custom_path", default="", optional=True,
                                tooltip="Optional path to another RectiFlow digits .safetensors file; "
                                        "overrides model_name when not empty."),
            ],
            outputs=[io.Model.Output(tooltip="Flow (CONST) model; works with KSampler and custom samplers.")],
        )

    @classmethod
    def execute(cls, model_name: str, custom_path: str = "") -> io.NodeOutput:
        if custom_path.strip():
            return io.NodeOutput(load_digits_model(Path(os.path.expanduser(custom_path.strip())), "custom_path"))
        if Path(model_name).name != model_name:
            raise DigitsCheckpointError(f"model_name: expected a file name from weights/, got '{model_name}'")
        return io.NodeOutput(load_digits_model(WEIGHTS_DIR / model_name, "model_name"))


def parse_labels(text: str) -> list[int]:
    """'0 1 2, null' -> [0, 1, 2, NULL_LABEL]; raises naming the bad token."""
    tokens = [t for t in re.split(r"[\s,;]+", text.strip()) if t]
    if not tokens:
        raise ValueError("labels: expected at least one digit 0-9 or 'null', got an empty string")
    labels = []
    for tok in tokens:
        if tok.lower() in ("null", "none", "uncond", "-"):
            labels.append(NULL_LABEL)
        elif re.fullmatch(r"[+-]?\d+", tok) and 0 <= int(tok) <= 9:
            labels.append(int(tok))
        else:
            raise ValueError(f"labels: '{tok}' is not a digit label; expected integers 0-9 or 'null'")
    return labels


class DigitsLabelConditioning(io.ComfyNode):
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


class DigitsEmptyLatent(io.ComfyNode):
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


class DigitsLatentToImage(io.ComfyNode):
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
        x = ((x.float().cpu() + 1) / 2).clamp(0, 1)
        x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="nearest")
        images = x.movedim(1, -1).repeat(1, 1, 1, 3)
        if grid_columns > 0:
            images = tile_grid(images, grid_columns)
        return io.NodeOutput(images)


DIGITS_NODES = [DigitsModelLoader, DigitsLabelConditioning, DigitsEmptyLatent, DigitsLatentToImage]
