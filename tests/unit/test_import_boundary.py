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
    env_path = ":".join(p for p in sys.path if p)
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr + result.stdout
