"""Read a diffusers UNet (folder with config.json, or one .safetensors) and map its keys to ComfyUI's.

Safetensors only: pickled checkpoints (.ckpt/.pt/.bin) are refused with the command that converts them
(rectiflow-convert-ckpt, which never runs their code). Keys are mapped with ComfyUI's own
comfy.utils.unet_to_diffusers; a tensor the map does not know is an error, never silently dropped.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import torch

import comfy.utils

from .errors import quoted
from .reflow_unet_config import BASES, ReflowCheckpointError, config_from_shapes, unet_config_from_diffusers

PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin", ".pkl")
WEIGHTS_STEM = "diffusion_pytorch_model"
VARIANT_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_SHOWN = 3   # example keys an error message lists


@dataclass
class DiffusersUNet:
    """A diffusers UNet state dict (diffusers keys) with the ComfyUI unet_config that runs it."""
    state_dict: dict[str, torch.Tensor]
    unet_config: dict
    where: str   # "<input>: '<name>'" for error messages


def display_name(path: Path) -> str:
    """A file's name, or a folder's last two path parts (a diffusers folder is often just 'unet'), ASCII-quoted."""
    return quoted("/".join(path.parts[-2:]) if path.is_dir() else path.name)


def expected_layout(family: str, base: str) -> str:
    extra = ", add_embedding.*" if base == "sdxl" else ""
    return (f"{family} expects a diffusers UNet2DConditionModel in {BASES[base]} layout: a folder with config.json "
            f"and {WEIGHTS_STEM}[.<variant>].safetensors, or one .safetensors with keys conv_in.weight, "
            f"down_blocks.*, mid_block.*, up_blocks.*{extra}")


def pickle_refusal(where: str, name: str) -> ReflowCheckpointError:
    return ReflowCheckpointError(
        f"{where} is a pickled checkpoint; RectiFlow's loaders read .safetensors only (a pickle can run code when "
        f"loaded). Convert it with `rectiflow-convert-ckpt {name}`, which reads it without running code, and pick "
        "the .safetensors file it writes")


def read_safetensors(path: Path, where: str) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ReflowCheckpointError(f"{where}: {quoted(path.name)} is corrupt or not a safetensors file") from e


def read_json(path: Path, where: str) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ReflowCheckpointError(f"{where}: {quoted(path.name)} is not readable JSON") from e
    if not isinstance(value, dict):
        raise ReflowCheckpointError(f"{where}: {quoted(path.name)} is not a JSON object")
    return value


def available_variants(folder: Path) -> list[str]:
    """Variant names of the safetensors weights in a diffusers folder ('' = no variant)."""
    pattern = re.compile(re.escape(WEIGHTS_STEM) + r"(?:\.([A-Za-z0-9_-]+))?\.safetensors(?:\.index\.json)?")
    found = {m.group(1) or "" for p in folder.iterdir() if (m := pattern.fullmatch(p.name))}
    found |= {m.group(1) for p in folder.iterdir()
              if (m := re.fullmatch(re.escape(WEIGHTS_STEM) + r"\.safetensors\.index\.([A-Za-z0-9_-]+)\.json", p.name))}
    return sorted(found)


def read_sharded(index_path: Path, where: str) -> dict[str, torch.Tensor]:
    """The tensors of a sharded checkpoint: every shard its index names, each a plain file beside the index."""
    weight_map = read_json(index_path, where).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ReflowCheckpointError(f"{where}: {quoted(index_path.name)} has no weight_map")
    shards = sorted(set(weight_map.values()))
    bad = [s for s in shards if not isinstance(s, str) or Path(s).name != s or not s.endswith(".safetensors")]
    if bad:
        raise ReflowCheckpointError(f"{where}: {quoted(index_path.name)} names shard {quoted(bad[0])}; expected "
                                    ".safetensors file names in the same folder")
    state_dict: dict[str, torch.Tensor] = {}
    for shard in shards:
        state_dict.update(read_safetensors(index_path.parent / shard, where))
    return state_dict


def folder_weights(folder: Path, variant: str, where: str) -> dict[str, torch.Tensor]:
    """The state dict of a diffusers folder for `variant` ('' = the plain file), single or sharded."""
    tag = f".{variant}" if variant else ""
    single = folder / f"{WEIGHTS_STEM}{tag}.safetensors"
    indexes = [folder / f"{WEIGHTS_STEM}.safetensors.index{tag}.json",
               folder / f"{WEIGHTS_STEM}{tag}.safetensors.index.json"]
    if single.is_file():
        return read_safetensors(single, where)
    for index in indexes:
        if index.is_file():
            return read_sharded(index, where)
    pickled = [folder / f"{WEIGHTS_STEM}{tag}{s}" for s in PICKLE_SUFFIXES]
    if any(p.is_file() for p in pickled):
        raise pickle_refusal(where, next(str(p) for p in pickled if p.is_file()))
    raise ReflowCheckpointError(f"{where}: no {quoted(single.name)} in the folder; variants there: "
                                f"{available_variants(folder) or 'none'} ('' = no variant)")


def check_variant(variant: str | None) -> str:
    if not variant:
        return ""
    if not VARIANT_PATTERN.fullmatch(variant):
        raise ReflowCheckpointError(f"variant: {quoted(variant)} is not a variant name; expected letters, digits, "
                                    "'_' or '-' (e.g. fp16), or empty for the plain weights")
    return variant


def check_key_layout(keys: list[str], where: str, expected: str) -> None:
    """Refuse ldm/ComfyUI-layout checkpoints and files that hold no diffusers UNet, naming what was found."""
    if any(k.startswith("model.diffusion_model.") for k in keys):
        raise ReflowCheckpointError(f"{where} is a full ComfyUI/ldm checkpoint (model.diffusion_model.* keys, "
                                    f"usually with VAE and text encoder; load those with Load Checkpoint); {expected}")
    if any(k.startswith(("input_blocks.", "diffusion_model.input_blocks.")) for k in keys):
        raise ReflowCheckpointError(f"{where} is a UNet in ComfyUI/ldm key layout (input_blocks.*); {expected}")
    if "conv_in.weight" not in keys:
        raise ReflowCheckpointError(f"{where} is not a diffusers UNet (no conv_in.weight; it holds "
                                    f"{len(keys)} tensors, e.g. {quoted(sorted(keys)[:MAX_SHOWN])}); {expected}")


def read_diffusers_unet(path: Path, *, family_name: str, base: str, input_name: str,
                        variant: str | None = None) -> DiffusersUNet:
    """Read a diffusers UNet folder or single .safetensors (diffusers keys) and its ComfyUI unet_config.

    A single file takes its config from `<stem>.json` beside it when present, else from its tensor shapes with
    the base's standard attention heads (SD1.5: 8 heads; SDXL: 64-wide heads)."""
    if base not in BASES:
        raise ValueError(f"base: {quoted(base)}; expected one of {list(BASES)}")
    where = f"{input_name}: {display_name(path)}"
    expected = expected_layout(family_name, base)
    tag = check_variant(variant)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise pickle_refusal(where, path.name)
    if path.is_dir():
        config_path = path / "config.json"
        if not config_path.is_file():
            raise ReflowCheckpointError(f"{where}: folder has no config.json; {expected}")
        config = read_json(config_path, where)
        state_dict = folder_weights(path, tag, where)
    elif path.is_file():
        if path.suffix.lower() != ".safetensors":
            raise ReflowCheckpointError(f"{where} is not a .safetensors file; {expected}")
        state_dict = read_safetensors(path, where)
        config = None
        if path.with_suffix(".json").is_file():
            config = read_json(path.with_suffix(".json"), where)
    else:
        raise ReflowCheckpointError(f"{where} does not exist; {expected}")
    check_key_layout(list(state_dict), where, expected)
    if config is None:
        config = config_from_shapes(state_dict, base=base, where=where)
    unet_config = unet_config_from_diffusers(config, base=base, family=family_name, where=where)
    return DiffusersUNet(state_dict, unet_config, where)


def comfy_unet_state_dict(state_dict: dict[str, torch.Tensor], unet_config: dict, *, where: str,
                          expected: str = "") -> dict[str, torch.Tensor]:
    """Diffusers UNet keys -> ComfyUI UNetModel keys (no 'diffusion_model.' prefix), by comfy.utils.unet_to_diffusers.

    A tensor the map does not know raises (naming it), so nothing is dropped silently."""
    key_map = comfy.utils.unet_to_diffusers(unet_config)
    unknown = sorted(k for k in state_dict if k not in key_map)
    if unknown:
        raise ReflowCheckpointError(f"{where}: {len(unknown)} unexpected tensor(s) for this UNet layout, e.g. "
                                    f"{quoted(unknown[:MAX_SHOWN])}; {expected or 'expected diffusers UNet keys'}")
    return {key_map[k]: t for k, t in state_dict.items()}


def check_state_dict_fits(target: dict[str, torch.Tensor], given: dict[str, torch.Tensor], *, where: str,
                          expected: str, names: dict[str, str] | None = None) -> None:
    """Raise unless `given` has exactly `target`'s keys and shapes; messages use `names` (ComfyUI key -> file key)."""
    names = names or {}
    show = lambda keys: quoted([names.get(k, k) for k in sorted(keys)[:MAX_SHOWN]])  # noqa: E731
    missing = [k for k in target if k not in given]
    unexpected = [k for k in given if k not in target]
    if missing or unexpected:
        raise ReflowCheckpointError(f"{where}: {len(missing)} missing and {len(unexpected)} unexpected tensor(s) "
                                    f"(missing e.g. {show(missing)}, unexpected e.g. {show(unexpected)}); {expected}")
    shapes = [k for k in target if tuple(target[k].shape) != tuple(given[k].shape)]
    if shapes:
        k = shapes[0]
        raise ReflowCheckpointError(f"{where}: {len(shapes)} tensor(s) of the wrong shape, e.g. "
                                    f"{quoted(names.get(k, k))} is {list(given[k].shape)}, expected "
                                    f"{list(target[k].shape)}; {expected}")
