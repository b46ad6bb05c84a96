"""samplers/ and models/ are pure torch: importing them must not import ComfyUI."""
import subprocess
import sys

PROBE = r"""
import importlib, pkgutil, sys
import rectiflow.samplers, rectiflow.models
names = []
for pkg in (rectiflow.samplers, rectiflow.models):
    for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
        importlib.import_module(info.name)
        names.append(info.name)
leaked = sorted(m for m in sys.modules if m == "comfy" or m.startswith(("comfy.", "comfy_api", "comfy_extras")))
print(len(names), leaked)
assert names, "no modules found under samplers/ or models/"
assert not leaked, leaked
"""


def test_samplers_and_models_import_without_comfy():
    # -P: nothing but the environment's own paths (ComfyUI is importable there: the probe checks what gets imported)
    result = subprocess.run([sys.executable, "-P", "-c", PROBE], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr + result.stdout
