"""The embedded digits model and its graph inputs, built through the real nodes (shared by the benchmarks)."""
from __future__ import annotations

from comfy_host import run_node  # tests/ is on sys.path (set by the benchmark script)


def digits_inputs(per_label: int) -> tuple:
    """(MODEL, positive one label per column, null negative, empty LATENT of 10 * per_label digits)."""
    model = run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors")[0]
    positive = run_node("RectiFlowDigitsLabel", labels="0 1 2 3 4 5 6 7 8 9")[0]
    negative = run_node("RectiFlowDigitsLabel", labels="null")[0]
    latent = run_node("RectiFlowDigitsEmptyLatent", batch_size=10 * per_label)[0]
    return model, positive, negative, latent
