"""Locate and boot the real ComfyUI host in process, and call its nodes like the executor does.

ComfyUI is importable in the project's environment because scripts/setup.sh writes its folder into a `.pth` file
in the venv's site-packages (`import comfy`, `import nodes` as under ComfyUI's main.py). The repository root must
not be on the import path before it (its `nodes/` package would shadow ComfyUI's `nodes`): run Python with `-P`
(`python -P -m pytest`, `python -P -m rectiflow.bench.solvers`), as scripts/test.sh does; pytest runs with
--import-mode=append (pyproject.toml) so the folders it adds come after ComfyUI's.
"""
from __future__ import annotations

import asyncio
import importlib
import importlib.util
import math
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HOST_DIR = REPO / ".host"


def comfyui_path() -> Path:
    """The runner's choice (COMFYUI_PATH, else the host scripts/setup.sh recorded), else .host/ComfyUI."""
    from rectiflow.headless.server import default_comfyui_path

    return default_comfyui_path() or HOST_DIR / "ComfyUI"


def check_importable_host(path: Path) -> None:
    """Raise, saying what to do, unless ComfyUI's nodes.py at `path` is what `import nodes` will load."""
    if not (path / "main.py").is_file():
        raise RuntimeError(f"no ComfyUI at {path}; run scripts/setup.sh first")
    spec = importlib.util.find_spec("nodes")
    origin = Path(spec.origin).resolve() if spec and spec.origin else None
    if origin != (path / "nodes.py").resolve():
        raise RuntimeError(f"`import nodes` resolves to {origin}, not ComfyUI's {path / 'nodes.py'}: run "
                           "scripts/setup.sh (it makes ComfyUI importable in the venv) and start Python with -P "
                           "so the repository root (whose nodes/ shadows ComfyUI's) is not on the import path")


_booted = False


def boot_comfyui():
    """Import the real ComfyUI in CPU mode and load its extra nodes plus custom nodes (RectiFlow). Once per process."""
    global _booted
    if not _booted:
        check_importable_host(comfyui_path())
        from comfy.cli_args import args

        args.cpu = True
        args.disable_all_custom_nodes = False
        # as main.py does: ComfyUI's utils package before nodes.py puts comfy/ first on the import path
        import utils.install_util  # noqa: F401
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
    comfy_nodes = boot_comfyui()
    root = comfy_nodes.NODE_CLASS_MAPPINGS["RectiFlowDigitsModelLoader"].__module__.rsplit(".nodes.", 1)[0]
    return importlib.import_module(f"{root}.{relative}")


def widget_kind(spec: tuple) -> str:
    """An input's kind as /object_info lists it; V1 combos are lists of options."""
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def rectiflow_widgets(kinds: tuple[str, ...]) -> list[tuple[str, str, dict]]:
    """(node id, input name, options) of every RectiFlow node input whose kind is in `kinds`, in node order."""
    cases = []
    for node_id, cls in sorted(boot_comfyui().NODE_CLASS_MAPPINGS.items()):
        if node_id.startswith("RectiFlow"):
            cases += [(node_id, name, spec[1] if len(spec) > 1 else {})
                      for section in cls.INPUT_TYPES().values() if isinstance(section, dict)
                      for name, spec in section.items() if widget_kind(spec) in kinds]
    return cases


def frontend_float(value: float, options: dict) -> float:
    """What the editor (comfyui-frontend-package's float widget) keeps of a typed value: rounded to 10^-p with
    p = max(0, -floor(log10(step))), whatever `round` says, then clamped to [min, max]."""
    precision = max(0, -math.floor(math.log10(options["step"])))
    rounded = round(round(value / 10 ** -precision) * 10 ** -precision, precision)
    return min(max(rounded, options.get("min", -math.inf)), options.get("max", math.inf))


def on_step_grid(value: float, step: float) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) < 1e-9
