"""Benchmarks, run from the repository root as modules of the installed pack (never imported by ComfyUI):

    .venv/bin/python -P -m rectiflow.bench.solvers [--quick]
    .venv/bin/python -P -m rectiflow.bench.guidance [--quick]
    .venv/bin/python -P -m rectiflow.bench.guidance_tasks [--quick]
    .venv/bin/python -P -m rectiflow.bench.digits_quality
    .venv/bin/python -P -m rectiflow.bench.reflow
    .venv/bin/python -P -m rectiflow.bench.editing [--quick]

-P keeps the repository root off the import path: its nodes/ package would shadow ComfyUI's nodes.py.
Each writes JSON (and PNG plots) to bench/out/ and prints markdown tables.
"""
