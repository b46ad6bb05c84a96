from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analytic_flows import single_thread  # noqa: E402
from comfy_host import REPO, boot_comfyui  # noqa: E402


def pack_import_root(tmp_root: Path) -> Path:
    """A folder holding a `rectiflow` link to this checkout, so the pack imports under its own name."""
    tmp_root.mkdir(parents=True, exist_ok=True)
    link = tmp_root / "rectiflow"
    if not link.exists():
        link.symlink_to(REPO, target_is_directory=True)
    return tmp_root


def ensure_rectiflow_importable() -> None:
    """Make `import rectiflow.samplers` work whatever the checkout folder is called."""
    try:
        import rectiflow  # noqa: F401  (editable install from scripts/setup.sh)
    except ImportError:
        import tempfile
        sys.path.insert(0, str(pack_import_root(Path(tempfile.mkdtemp(prefix="rectiflow-pack-")))))


ensure_rectiflow_importable()


@pytest.fixture(scope="session")
def comfy():
    """The real ComfyUI `nodes` module, booted in process on the CPU with RectiFlow loaded."""
    return boot_comfyui()


@pytest.fixture(scope="module")
def one_thread():
    """Tiny-tensor modules run on one intra-op thread (use with pytest.mark.usefixtures)."""
    with single_thread():
        yield
