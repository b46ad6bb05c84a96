#!/usr/bin/env bash
# The whole test suite: build the host if missing, then unit, node (in-process ComfyUI) and server tests.
# -P: the repository root stays off the import path (its nodes/ would shadow ComfyUI's nodes.py).
# pytest's exit code 5 ("no tests collected") is a failure.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" || exit $?
cd "$ROOT"
"$ROOT/.venv/bin/python" -P -m pytest -p no:cacheprovider "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
