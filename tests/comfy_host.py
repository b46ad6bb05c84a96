"""Locate and boot the real ComfyUI host for tests (in process), and call its nodes like the executor does."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def comfyui_path() -> Path:
    """The runner's choice (COMFYUI_PATH, else the host scripts/setup.sh recorded or built)."""
    from rectiflow.headless.server import default_comfyui_path

    return default_comfyui_path() or REPO / ".host" / "ComfyUI"


_booted = False


def boot_comfyui():
    """Import the real ComfyUI in CPU mode and load its extra nodes plus custom nodes (RectiFlow). Once per process."""
    global _booted
    path = comfyui_path()
    if not (path / "main.py").is_file():
        raise RuntimeError(f"no ComfyUI at {path}; run scripts/setup.sh first")
    if not _booted:
        sys.path.insert(0, str(path))
        from comfy.cli_args import args

        args.cpu = True
        args.disable_all_custom_nodes = False
        import utils.install_util  # noqa: F401  (as main.py: ComfyUI's utils package before nodes.py puts comfy/ on sys.path)
        import nodes as comfy_nodes

        asyncio.run(comfy_nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
        if "RectiFlowDigitsModelLoader" not in comfy_nodes.NODE_CLASS_MAPPINGS:
            raise RuntimeError("ComfyUI did not load the RectiFlow pack from custom_nodes/")
        _booted = True
    import nodes as comfy_nodes

    return comfy_nodes


def run_node(node_type: str, **inputs):
    """Execute one node class by id with keyword inputs (V1 or V3) and return its output tuple."""
    comfy_nodes = boot_comfyui()
    cls = comfy_nodes.NODE_CLASS_MAPPINGS[node_type]
    if hasattr(cls, "FUNCTION") and not hasattr(cls, "define_schema"):
        return getattr(cls(), cls.FUNCTION)(**inputs)
    out = cls.execute(**inputs)
    if asyncio.iscoroutine(out):
        out = asyncio.run(out)
    return tuple(out.args)


def pack_module(relative: str):
    """A RectiFlow submodule as ComfyUI loaded it (ComfyUI names the pack after its folder path, so
    `import rectiflow.x` in a test is a different module object with its own classes and caches)."""
    import importlib

    comfy_nodes = boot_comfyui()
    root = comfy_nodes.NODE_CLASS_MAPPINGS["RectiFlowDigitsModelLoader"].__module__.rsplit(".nodes.", 1)[0]
    return importlib.import_module(f"{root}.{relative}")
