"""pytest plugin (loaded with `-p rectiflow.testing.pytest_plugin` from pyproject's addopts).

The checkout's root holds the pack's `__init__.py`, so pytest would collect the root as a package and import it
under the checkout folder's name. A checkout named `main` would then import ComfyUI's `main.py` (ComfyUI is on
the import path), which parses the command line and exits. The root is collected as a plain directory instead.
"""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_collect_directory(path: Path, parent):
    if path.resolve() == REPO:
        return pytest.Dir.from_parent(parent, path=path)
    return None
