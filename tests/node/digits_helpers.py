"""Shared steps for node tests on the embedded digits model."""
from __future__ import annotations

import torch

from rectiflow.testing.comfy_host import REPO, run_node
from rectiflow.models.digits import classify, load_digits_classifier

DEFAULT_CFG = 3.0
_classifier = None


def classifier():
    global _classifier
    if _classifier is None:
        _classifier = load_digits_classifier(REPO / "weights" / "digits_classifier.safetensors")
    return _classifier


def digits_model():
    return run_node("RectiFlowDigitsModelLoader", model_name="digits_rf.safetensors")[0]


def labels_cond(text: str):
    return run_node("RectiFlowDigitsLabel", labels=text)[0]


def empty_latent(batch: int):
    return run_node("RectiFlowDigitsEmptyLatent", batch_size=batch)[0]


def accuracy(samples: torch.Tensor, labels: list[int]) -> float:
    expected = torch.tensor(labels).repeat(-(-samples.shape[0] // len(labels)))[: samples.shape[0]]
    return (classify(classifier(), samples) == expected).float().mean().item()
