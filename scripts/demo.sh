#!/usr/bin/env bash
# Main job: build the host if missing, then run workflows/digits_quickstart.json headless through a real
# ComfyUI server on 127.0.0.1 and write the PNG grid to output/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
WORKFLOW="${1:-$ROOT/workflows/digits_quickstart.json}"
SECONDS=0
"$ROOT/.venv/bin/rectiflow-run" "$WORKFLOW" --out "$ROOT/output" "${@:2}"
echo "demo wall time: ${SECONDS} s (server start included)"
