"""ComfyUI's unet_config for a diffusers UNet2DConditionModel, from its config.json or from its tensor shapes.

ComfyUI's own diffusers detection (comfy.model_detection.unet_config_from_diffusers_unet) matches full-size
templates only; reflow-distilled UNets (InstaFlow arXiv 2309.06380, 2-Rectified Flow arXiv 2209.03003) keep
SD1.5/SDXL's layout, and the same reading serves smaller UNets of that layout. The result feeds ComfyUI's own
key map (comfy.utils.unet_to_diffusers) and UNet class (openaimodel.UNetModel); nothing here builds a network.
"""
from __future__ import annotations

import re

from .errors import quoted

BASES = {"sd15": "SD1.5", "sdxl": "SDXL"}
DOWN_TYPES = {"CrossAttnDownBlock2D": True, "DownBlock2D": False}
UP_TYPES = {"CrossAttnUpBlock2D": True, "UpBlock2D": False}
SDXL_TIME_EMBED_DIM = 256   # comfy.model_base.SDXL embeds the six size/crop numbers with Timestep(256)
# Settings ComfyUI's UNetModel hard-codes: a config.json must keep diffusers' default for each (None = absent)
FIXED_SETTINGS = {
    "time_embedding_type": "positional", "flip_sin_to_cos": True, "freq_shift": 0, "norm_num_groups": 32,
    "norm_eps": 1e-5, "act_fn": "silu", "resnet_time_scale_shift": "default", "class_embed_type": None,
    "num_class_embeds": None, "encoder_hid_dim": None, "encoder_hid_dim_type": None, "time_cond_proj_dim": None,
    "conv_in_kernel": 3, "conv_out_kernel": 3, "dual_cross_attention": False, "center_input_sample": False,
    "mid_block_type": "UNetMidBlock2DCrossAttn", "reverse_transformer_layers_per_block": None,
    "downsample_padding": 1, "attention_type": "default", "resnet_skip_time_act": False,
    "resnet_out_scale_factor": 1.0, "time_embedding_dim": None, "time_embedding_act_fn": None,
    "timestep_post_act": None, "class_embeddings_concat": False, "cross_attention_norm": None,
    "mid_block_only_cross_attention": None, "addition_embed_type_num_heads": 64,
}
# The heads each family's checkpoints use when a single file comes without its config.json
STANDARD_HEADS = {"sd15": {"num_heads": 8}, "sdxl": {"head_channels": 64}}


class ReflowCheckpointError(ValueError):
    """A reflow checkpoint that is missing, pickled, corrupt, of another family, or not a UNet ComfyUI runs."""


def per_level(value, levels: int, field: str, where: str) -> list:
    """An int/bool setting broadcast to `levels`, or a list of exactly that length."""
    if isinstance(value, (list, tuple)):
        if len(value) != levels:
            raise ReflowCheckpointError(f"{where}: config {field} has {len(value)} entries, expected one per block "
                                        f"({levels})")
        return list(value)
    return [value] * levels


def check_fixed_settings(config: dict, where: str) -> None:
    """Refuse settings ComfyUI's UNetModel cannot reproduce (another architecture, not a loader option)."""
    for key, default in FIXED_SETTINGS.items():
        given = config.get(key, default)
        if given != default:
            raise ReflowCheckpointError(f"{where}: config {key} = {quoted(given)} is not supported; expected "
                                        f"{default!r} (SD1.5/SDXL UNet layout, which ComfyUI's UNetModel implements)")
    only = config.get("only_cross_attention", False)
    if any(only) if isinstance(only, (list, tuple)) else only:
        raise ReflowCheckpointError(f"{where}: config only_cross_attention = {quoted(only)} is not supported; "
                                    "expected false")


def block_flags(types: list, known: dict[str, bool], field: str, where: str) -> list[bool]:
    """Per block: True where it holds cross-attention transformers."""
    unknown = [t for t in types if t not in known]
    if unknown:
        raise ReflowCheckpointError(f"{where}: config {field} has {quoted(unknown[0])}; expected only "
                                    f"{' / '.join(known)}")
    return [known[t] for t in types]


def head_settings(channels: list[int], heads: list[int], attended: list[bool], where: str) -> dict:
    """ComfyUI's num_heads / num_head_channels (one value for every level) from diffusers' per-block heads."""
    used = [(c, h) for c, h, a in zip(channels, heads, attended) if a] + [(channels[-1], heads[-1])]
    if any(not isinstance(h, int) or h <= 0 or c % h for c, h in used):
        raise ReflowCheckpointError(f"{where}: attention heads {heads} do not divide block_out_channels {channels}")
    if len({h for _, h in used}) == 1:
        return {"num_heads": used[0][1], "num_head_channels": -1}
    if len({c // h for c, h in used}) == 1:
        return {"num_heads": -1, "num_head_channels": used[0][0] // used[0][1]}
    raise ReflowCheckpointError(f"{where}: attention heads {heads} for block_out_channels {channels} give neither "
                                "one head count nor one head width for every block; ComfyUI's UNetModel needs one "
                                "of them")


def addition_settings(config: dict, base: str, family: str, where: str) -> dict:
    """SDXL's text_time embedding as ComfyUI's adm settings; refuse a UNet of the other base."""
    kind = config.get("addition_embed_type")
    if base == "sd15":
        if kind is not None:
            raise ReflowCheckpointError(f"{where}: is an SDXL-type UNet (addition_embed_type {quoted(kind)}), but "
                                        f"{family} expects an SD1.5 UNet (no addition_embed_type)")
        return {"adm_in_channels": None}
    if kind != "text_time":
        raise ReflowCheckpointError(f"{where}: is an SD1.5-type UNet (addition_embed_type {quoted(kind)}), but "
                                    f"{family} expects an SDXL UNet (addition_embed_type 'text_time')")
    if config.get("addition_time_embed_dim") != SDXL_TIME_EMBED_DIM:
        raise ReflowCheckpointError(f"{where}: addition_time_embed_dim "
                                    f"{quoted(config.get('addition_time_embed_dim'))} is not supported; expected "
                                    f"{SDXL_TIME_EMBED_DIM} (SDXL)")
    adm = config.get("projection_class_embeddings_input_dim")
    if not isinstance(adm, int) or adm <= 6 * SDXL_TIME_EMBED_DIM:
        raise ReflowCheckpointError(f"{where}: projection_class_embeddings_input_dim {quoted(adm)} is not an SDXL "
                                    f"text_time size (pooled text width + {6 * SDXL_TIME_EMBED_DIM})")
    return {"adm_in_channels": adm, "num_classes": "sequential"}


def int_list(config: dict, field: str, where: str) -> list[int]:
    value = config.get(field)
    if not isinstance(value, (list, tuple)) or not value or not all(type(v) is int and v > 0 for v in value):
        raise ReflowCheckpointError(f"{where}: config {field} = {quoted(value)}; expected a list of positive integers")
    return list(value)


def transformer_depths(down: list[bool], up: list[bool], layers: list[int], res: list[int]) -> dict:
    """ComfyUI's per-block transformer depths (input blocks, output blocks in level order, middle)."""
    levels = len(res)
    depth_in = [layers[i] if down[i] else 0 for i in range(levels) for _ in range(res[i])]
    depth_out = [layers[i] if up[levels - 1 - i] else 0 for i in range(levels) for _ in range(res[i] + 1)]
    return {"transformer_depth": depth_in, "transformer_depth_output": depth_out,
            "transformer_depth_middle": layers[-1]}


def unet_config_from_diffusers(config: dict, *, base: str, family: str, where: str) -> dict:
    """ComfyUI's unet_config (openaimodel.UNetModel keyword arguments) for a diffusers UNet2DConditionModel config."""
    if config.get("_class_name", "UNet2DConditionModel") != "UNet2DConditionModel":
        raise ReflowCheckpointError(f"{where}: config.json describes a {quoted(config.get('_class_name'))}; "
                                    "expected a UNet2DConditionModel")
    check_fixed_settings(config, where)
    channels = int_list(config, "block_out_channels", where)
    levels = len(channels)
    down = block_flags(list(config.get("down_block_types", [])), DOWN_TYPES, "down_block_types", where)
    up = block_flags(list(config.get("up_block_types", [])), UP_TYPES, "up_block_types", where)
    if len(down) != levels or len(up) != levels:
        raise ReflowCheckpointError(f"{where}: config has {len(down)} down and {len(up)} up blocks; expected "
                                    f"{levels} each (one per block_out_channels entry)")
    if any(c % channels[0] for c in channels):
        raise ReflowCheckpointError(f"{where}: block_out_channels {channels} are not multiples of the first")
    res = per_level(config.get("layers_per_block", 2), levels, "layers_per_block", where)
    layers = per_level(config.get("transformer_layers_per_block", 1), levels, "transformer_layers_per_block", where)
    heads = per_level(config.get("num_attention_heads") or config.get("attention_head_dim", 8), levels,
                      "attention_head_dim", where)
    context = config.get("cross_attention_dim", 1280)
    if type(context) is not int:
        raise ReflowCheckpointError(f"{where}: cross_attention_dim {quoted(context)}; expected one integer")
    return {
        "use_checkpoint": False, "image_size": int(config.get("sample_size", 64) or 64), "legacy": False,
        "use_spatial_transformer": True, "use_temporal_attention": False, "use_temporal_resblock": False,
        "in_channels": int(config.get("in_channels", 4)), "out_channels": int(config.get("out_channels", 4)),
        "model_channels": channels[0], "channel_mult": [c // channels[0] for c in channels],
        "num_res_blocks": res, **transformer_depths(down, up, layers, res), "context_dim": context,
        "use_linear_in_transformer": bool(config.get("use_linear_projection", False)),
        **head_settings(channels, heads, [d or u for d, u in zip(down, up[::-1])], where),
        **addition_settings(config, base, family, where),
    }


def count_indices(keys: list[str], prefix: str) -> int:
    """1 + the largest N in keys `prefix`N.* (0 when none)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = [int(m.group(1)) for k in keys if (m := pattern.match(k))]
    return max(found) + 1 if found else 0


def config_from_shapes(state_dict: dict, *, base: str, where: str) -> dict:
    """A diffusers config inferred from a UNet state dict's shapes, with the base's standard attention heads."""
    keys = list(state_dict)
    levels = count_indices(keys, "down_blocks.")
    try:
        channels = [int(state_dict[f"down_blocks.{i}.resnets.0.conv1.weight"].shape[0]) for i in range(levels)]
        mid_layers = count_indices(keys, "mid_block.attentions.0.transformer_blocks.")
        down = [count_indices(keys, f"down_blocks.{i}.attentions.") > 0 for i in range(levels)]
        up = [count_indices(keys, f"up_blocks.{u}.attentions.") > 0 for u in range(levels)]
        layers = [count_indices(keys, f"down_blocks.{i}.attentions.0.transformer_blocks.") if down[i] else mid_layers
                  for i in range(levels)]
        attn_key = next(k for k in keys if k.endswith("attn2.to_k.weight"))
        config = {
            "block_out_channels": channels, "layers_per_block": [count_indices(keys, f"down_blocks.{i}.resnets.")
                                                                 for i in range(levels)],
            "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in down],
            "up_block_types": ["CrossAttnUpBlock2D" if u else "UpBlock2D" for u in up],
            "transformer_layers_per_block": layers[:-1] + [mid_layers],
            "cross_attention_dim": int(state_dict[attn_key].shape[1]),
            "use_linear_projection": state_dict["mid_block.attentions.0.proj_in.weight"].ndim == 2,
            "in_channels": int(state_dict["conv_in.weight"].shape[1]),
            "out_channels": int(state_dict["conv_out.weight"].shape[0]),
        }
    except (KeyError, StopIteration, IndexError) as e:
        raise ReflowCheckpointError(f"{where}: cannot infer the UNet layout from its tensors "
                                    f"(no {quoted(str(e))}); expected a complete diffusers UNet2DConditionModel "
                                    "state dict") from e
    if "add_embedding.linear_1.weight" in state_dict:
        config.update(addition_embed_type="text_time", addition_time_embed_dim=SDXL_TIME_EMBED_DIM,
                      projection_class_embeddings_input_dim=int(state_dict["add_embedding.linear_1.weight"].shape[1]))
    standard = STANDARD_HEADS[base]
    if "num_heads" in standard:
        config["attention_head_dim"] = standard["num_heads"]
    else:
        width = standard["head_channels"]
        if any(c % width for c in channels):
            raise ReflowCheckpointError(f"{where}: block_out_channels {channels} are not multiples of "
                                        f"{BASES[base]}'s standard head width {width}; put the model's diffusers "
                                        "config.json beside it as <name>.json")
        config["attention_head_dim"] = [c // width for c in channels]
    return config
