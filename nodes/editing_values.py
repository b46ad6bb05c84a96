"""Value-feature sharing of RF-Solver-Edit (arXiv 2411.04746, reused by FireFlow, arXiv 2412.07517) on ComfyUI's
Flux and SD3 (MMDiT) models, without touching any class or global: per-run model_options only.

A `patches_replace["dit"]` entry on each shared block marks the block being run, and an
`optimized_attention_override` swaps the V of the block's first (joint) attention call: during the inversion it
stores V, during the regeneration it hands the attention the V stored for the same shared step and stage. Existing
block patches and attention overrides are chained, not replaced. V is kept per cond/uncond chunk of the batch
(transformer_options["cond_or_uncond"]), so a cfg-1 inversion can feed the cond chunk of a cfg > 1 regeneration.
"""
from __future__ import annotations

import logging

import torch

import comfy.ldm.flux.model
import comfy.ldm.modules.diffusionmodules.mmdit
import comfy.model_management

from ..samplers.editing.solver_edit import INJECT, OFF, STORE

BLOCK_CHOICES = ("late", "all")
OFFICIAL_FIRST, OFFICIAL_DEPTH = 20, 38   # official: Flux single blocks 20..37 of 38


def shared_blocks(diffusion_model, choice: str) -> list[tuple[str, int]] | None:
    """patches_replace["dit"] keys of the blocks whose V is shared, or None when the model has no Flux or SD3 blocks.

    "late": Flux's single blocks from 20/38 of their depth on (the official 20..37 of 38); SD3's joint blocks from the
    same share of depth. "all": every double and single Flux block; every SD3 joint block."""
    if isinstance(diffusion_model, comfy.ldm.flux.model.Flux):
        double, single = len(diffusion_model.double_blocks), len(diffusion_model.single_blocks)
        late = [("single_block", i) for i in range(single * OFFICIAL_FIRST // OFFICIAL_DEPTH, single)]
        every = [("double_block", i) for i in range(double)] + [("single_block", i) for i in range(single)]
    elif isinstance(diffusion_model, comfy.ldm.modules.diffusionmodules.mmdit.MMDiT):
        joint = len(diffusion_model.joint_blocks)
        late = [("double_block", i) for i in range(joint * OFFICIAL_FIRST // OFFICIAL_DEPTH, joint)]
        every = [("double_block", i) for i in range(joint)]
    else:
        return None
    return late if choice == "late" else every


class ValueBank:
    """The V tensors of one edit run and the mode the solver announced for the next model evaluation."""

    def __init__(self, blocks: list[tuple[str, int]]):
        self.blocks = blocks
        self.values: dict[tuple, torch.Tensor] = {}
        self.evaluations: set[tuple] = set()   # (step, stage, block) that stored: others (sigma 0, reused) are silent
        self.mode, self.step, self.stage = OFF, 0, 0
        self.block: tuple[str, int] | None = None   # the shared block running now, until its first attention call
        self.stored = self.injected = self.unmatched = 0
        self.storage = comfy.model_management.unet_offload_device()

    def announce(self, mode: str, step: int, stage: int) -> None:
        """The solver's hook (samplers/editing/solver_edit.FeatureHook)."""
        self.mode, self.step, self.stage = mode, step, stage

    def block_patch(self, key: tuple[str, int], previous):
        """patches_replace["dit"] entry: marks `key` as running, then runs the previous patch or the block."""
        def patch(args: dict, extra: dict) -> dict:
            self.block = key
            try:
                return previous(args, extra) if previous is not None else extra["original_block"](args)
            finally:
                self.block = None
        return patch

    def attention_override(self, previous):
        """optimized_attention_override: swaps V of a shared block's first attention call, then attends."""
        def override(func, q, k, v, *args, **kwargs):
            block, self.block = self.block, None
            if block is not None and self.mode != OFF:
                v = self.share(block, v, kwargs.get("transformer_options") or {})
            if previous is not None:
                return previous(func, q, k, v, *args, **kwargs)
            return func(q, k, v, *args, **kwargs)
        return override

    def chunk_keys(self, block: tuple[str, int], labels: list) -> list[tuple]:
        """One key per batch chunk: (step, stage, block, cond/uncond label, its occurrence among equal labels)."""
        seen: dict = {}
        keys = []
        for label in labels:
            seen[label] = seen.get(label, -1) + 1
            keys.append((self.step, self.stage, block, label, seen[label]))
        return keys

    def share(self, block: tuple[str, int], v: torch.Tensor, transformer_options: dict) -> torch.Tensor:
        labels = list(transformer_options.get("cond_or_uncond") or ["batch"])
        if v.shape[0] % len(labels):
            labels = ["batch"]
        chunks = list(v.chunk(len(labels)))
        evaluation = (self.step, self.stage, block)
        for n, key in enumerate(self.chunk_keys(block, labels)):
            if self.mode == STORE:
                self.values[key] = chunks[n].detach().to(self.storage, copy=True)
                self.evaluations.add(evaluation)
                self.stored += 1
            elif self.mode == INJECT and evaluation in self.evaluations:
                stored = self.values.get(key)
                if stored is not None and stored.shape == chunks[n].shape:
                    chunks[n] = stored.to(device=v.device, dtype=v.dtype)
                    self.injected += 1
                else:
                    self.unmatched += 1
        return torch.cat(chunks) if len(chunks) > 1 else chunks[0]

    def model_options(self, model_options: dict) -> dict:
        """A copy of the run's model_options with this bank's block patches and attention override (chained)."""
        options = dict(model_options)
        transformer = dict(options.get("transformer_options", {}))
        replace = dict(transformer.get("patches_replace", {}))
        dit = dict(replace.get("dit", {}))
        for key in self.blocks:
            dit[key] = self.block_patch(key, dit.get(key))
        replace["dit"] = dit
        transformer["patches_replace"] = replace
        transformer["optimized_attention_override"] = self.attention_override(
            transformer.get("optimized_attention_override"))
        options["transformer_options"] = transformer
        return options

    def summary(self, name: str) -> str | None:
        """A warning when the sharing did not happen as asked (nothing stored, or injections without a match)."""
        if self.stored == 0:
            return (f"{name}: value sharing stored no attention values; this model's attention does not go through "
                    "ComfyUI's optimized_attention, so the edit ran without value sharing")
        if self.unmatched:
            return (f"{name}: value sharing injected {self.injected} of {self.injected + self.unmatched} attention "
                    "values; the others had no stored twin of the same shape (a negative branch that the "
                    "inversion did not run, or source and target prompts of different token lengths)")
        return None


def value_bank_for(guider, inject: int, blocks: str, name: str) -> ValueBank | None:
    """A ValueBank for the guider's model, or None (logged) when inject is 0 or the model has no Flux/SD3 blocks."""
    if inject == 0:
        return None
    diffusion_model = guider.model_patcher.model.diffusion_model
    keys = shared_blocks(diffusion_model, blocks)
    if keys is None:
        logging.warning("%s: inject_steps %d asks for value sharing, which needs Flux or SD3 attention blocks; "
                        "this model (%s) has none, so the edit runs without it (set inject_steps to 0 to silence "
                        "this)", name, inject, type(diffusion_model).__name__)
        return None
    return ValueBank(keys)
