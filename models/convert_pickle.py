"""rectiflow-convert-ckpt: turn a pickled checkpoint (.ckpt, .pt, .bin) into safetensors, without running its code.

RectiFlow's loaders read safetensors only. Some reflow checkpoints (Rectified Diffusion's UNets, for example) are
published as pickles, which can run arbitrary code when unpickled. This command reads them with
`torch.load(weights_only=True)`, PyTorch's restricted unpickler that rebuilds tensors and plain containers and
refuses every other object, and accepts only a flat dict of tensor names to tensors. Nothing is overwritten.

    rectiflow-convert-ckpt model.ckpt                     # writes model.safetensors next to it
    rectiflow-convert-ckpt model.ckpt -o unet.safetensors
    rectiflow-convert-ckpt model.ckpt --key state_dict    # the tensors sit under one top-level key
"""
from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

PROG = "rectiflow-convert-ckpt"


class ConversionRefused(ValueError):
    """The file is not a pickle of a flat tensor dict, or the output already exists."""


def read_pickled_tensors(path: Path, key: str | None = None) -> dict[str, torch.Tensor]:
    """The flat {name: tensor} dict in a pickled checkpoint, read with the restricted unpickler."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=False)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as error:
        raise ConversionRefused(f"{path.name}: not a plain tensor checkpoint (the restricted unpickler refused it: "
                                f"{str(error).splitlines()[0][:200]})") from None
    if key is not None:
        if not isinstance(data, dict) or key not in data:
            raise ConversionRefused(f"--key: {path.name} has no top-level key {key!r}")
        data = data[key]
    if not isinstance(data, dict) or not data:
        raise ConversionRefused(f"{path.name}: expected a non-empty dict of tensors at the top level, got "
                                f"{type(data).__name__}")
    for name, value in data.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            hint = " (nested: pass --key NAME)" if isinstance(value, dict) else ""
            raise ConversionRefused(f"{path.name}: entry {str(name)[:80]!r} is a {type(value).__name__}, expected "
                                    f"a tensor{hint}")
    return data


def convert(source: Path, target: Path | None = None, key: str | None = None) -> Path:
    """Write the tensors of `source` to `target` (default: same name, .safetensors); never overwrite."""
    target = target or source.with_suffix(".safetensors")
    if target.exists():
        raise ConversionRefused(f"{target}: exists; choose another --output (nothing is overwritten)")
    tensors = read_pickled_tensors(source, key)
    save_file({name: t.detach().contiguous() for name, t in tensors.items()}, str(target),
              metadata={"converted_from": source.name, "converter": PROG})
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="pickled checkpoint (.ckpt/.pt/.bin)")
    parser.add_argument("-o", "--output", type=Path, help="output .safetensors (default: next to the input)")
    parser.add_argument("--key", help="top-level key holding the tensor dict, e.g. state_dict")
    args = parser.parse_args(argv)
    if not args.checkpoint.is_file():
        print(f"{PROG}: {args.checkpoint}: no such file", file=sys.stderr)
        return 2
    try:
        written = convert(args.checkpoint, args.output, args.key)
    except ConversionRefused as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
