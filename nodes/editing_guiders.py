"""The RectiFlow Edit Guider built from two GUIDERs: each edit branch (source, target) predicts through a whole
guider of its own (ComfyUI's CFGGuider, BasicGuider, DualCFGGuider, or a RectiFlow guider such as RAAG or SMC-CFG).

Each branch guider samples exactly as if it ran alone: GuidersEditGuider.sample runs the source guider's own
`sample`, whose `inner_sample` hands a capturing SAMPLER its prepared self (conds processed, models loaded, model
options with its wrappers, hooks and the run's schedule); inside it the target guider's `sample` does the same,
and inside that the real SAMPLER (an edit sampler, or any other) runs with this guider as its model. A call asking
for the source branch (model_options[EDIT_BRANCH] == "source") goes to the prepared source guider with its own
options; any other call goes to the target guider. Per-run state (SMC-CFG memory, RAAG runs, patch wrappers) is
reset by each guider's own outer_sample / OUTER_SAMPLE wrappers, as in a plain run.
"""
from __future__ import annotations

import copy
from typing import NamedTuple

import torch
from comfy_api.latest import io

import comfy.samplers

from .editing import CATEGORY, EDIT_BRANCH, EditGuider
from .flow_models import is_flow_model
from .validation import RectiFlowNode

GUIDER_KINDS = "CFGGuider, BasicGuider, DualCFGGuider or a RectiFlow guider (RAAG, SMC-CFG, ...)"


class PreparedBranch(NamedTuple):
    guider: comfy.samplers.CFGGuider   # inside its own sample(): inner_model and processed conds are set
    extra_args: dict                   # its model options (with the run's sample_sigmas) and seed


class CapturingSampler:
    """A SAMPLER handed to a branch guider's own sample(): it runs `inside(branch, sigmas, noise, latent, mask)`
    where the guider's inner_sample would start sampling, with the guider prepared as for a plain run."""

    def __init__(self, inside):
        self.inside = inside

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        return self.inside(PreparedBranch(model_wrap, extra_args), sigmas, noise, latent_image, denoise_mask)


class GuidersEditGuider(EditGuider):
    """An EditGuider whose source and target branches are whole GUIDERs sampling the same model."""

    def __init__(self, source: comfy.samplers.CFGGuider, target: comfy.samplers.CFGGuider):
        super().__init__(target.model_patcher, getattr(source, "cfg", 1.0), getattr(target, "cfg", 1.0))
        self.source_guider, self.target_guider = source, target
        self.prepared: dict[str, PreparedBranch] = {}

    def sample(self, noise, latent_image, sampler, sigmas, denoise_mask=None, callback=None, disable_pbar=False,
               seed=None):
        if sigmas.shape[-1] == 0:
            return latent_image
        source = self.source_guider
        target = copy.copy(self.target_guider) if self.target_guider is source else self.target_guider
        result: dict[str, torch.Tensor] = {}

        def inside_target(branch: PreparedBranch, run_sigmas, run_noise, run_latent, run_mask):
            self.prepared["target"] = branch
            self.inner_model = branch.guider.inner_model
            return sampler.sample(self, run_sigmas, dict(branch.extra_args), callback, run_noise, run_latent,
                                  run_mask, disable_pbar)

        def inside_source(branch: PreparedBranch, run_sigmas, run_noise, run_latent, run_mask):
            self.prepared["source"] = branch
            result["out"] = target.sample(noise, latent_image, CapturingSampler(inside_target), sigmas,
                                          denoise_mask, None, disable_pbar, seed)
            return run_latent   # the source guider's output is not used: the target guider's is

        try:
            source.sample(noise, latent_image, CapturingSampler(inside_source), sigmas, denoise_mask, None,
                          disable_pbar, seed)
        finally:
            self.prepared = {}
            self.__dict__.pop("inner_model", None)
        return result["out"]

    def outer_predict_noise(self, x, timestep, model_options={}, seed=None):
        """The source branch through the source guider with its own options; anything else through the target
        guider with the caller's options (the target guider's, plus whatever the sampler added)."""
        if model_options.get(EDIT_BRANCH) == "source":
            branch = self.prepared["source"]
            return branch.guider(x, timestep, model_options=branch.extra_args["model_options"],
                                 seed=branch.extra_args.get("seed"))
        return self.prepared["target"].guider(x, timestep, model_options=model_options, seed=seed)

    predict_noise = outer_predict_noise


def check_branch_guider(guider, name: str) -> None:
    if isinstance(guider, EditGuider):
        raise ValueError(f"{name}: expected a guider for one branch ({GUIDER_KINDS}), got a RectiFlow Edit Guider; "
                         "connect the guider that should predict this branch")
    if not isinstance(guider, comfy.samplers.CFGGuider):
        raise ValueError(f"{name}: expected a GUIDER ({GUIDER_KINDS}), got {type(guider).__name__}")
    if not is_flow_model(guider.model_patcher):
        sampling = type(guider.model_patcher.get_model_object("model_sampling")).__name__
        raise ValueError(f"{name}: the edit needs a flow (CONST) model such as SD3, Flux or the digits model, got "
                         f"model sampling {sampling}")


def same_sampled_model(a, b) -> bool:
    """Whether two MODELs compute the same network: clones of one model with the same weight patches (LoRAs) and
    object patches (model sampling); model options (guidance patches, wrappers) may differ."""
    if a is b:
        return True
    if not a.is_clone(b) or a.hook_patches.keys() != b.hook_patches.keys():
        return False
    if (a.patches or b.patches) and a.patches_uuid != b.patches_uuid:
        return False
    return a.object_patches.keys() == b.object_patches.keys() and all(
        a.object_patches[key] is b.object_patches[key] for key in a.object_patches)


def guiders_edit_guider(source, target) -> GuidersEditGuider:
    """The edit guider of two branch guiders, refusing guiders that are not CFGGuiders or sample other models."""
    check_branch_guider(source, "source_guider")
    check_branch_guider(target, "target_guider")
    if not same_sampled_model(source.model_patcher, target.model_patcher):
        raise ValueError("target_guider: samples another model than source_guider (other weights, LoRAs or model "
                         "sampling); both branches of an edit must use the same MODEL (guidance patches on it are "
                         "fine)")
    return GuidersEditGuider(source, target)


class EditGuiderFromGuiders(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowEditGuiderFromGuiders", display_name="RectiFlow Edit Guider (from guiders)",
            category=CATEGORY,
            description="The RectiFlow Edit Guider with a whole GUIDER per branch, for the RectiFlow edit samplers "
                        "(FlowEdit, RF-Inversion, ...) in SamplerCustomAdvanced: each branch predicts through its "
                        "own guider (CFGGuider, BasicGuider, DualCFGGuider, RectiFlow RAAG / SMC-CFG / ... guiders), "
                        "with its conditioning, model options and per-run state, exactly as when that guider samples "
                        "alone. Both guiders must use the same MODEL. Any other sampler samples the target guider.",
            inputs=[
                io.Guider.Input("source_guider", tooltip="Guider of the source branch: its positive describes the "
                                                         "source image (e.g. CFGGuider with the source prompt)."),
                io.Guider.Input("target_guider", tooltip="Guider of the target branch: its positive describes the "
                                                         "edited image; same MODEL as source_guider."),
            ],
            outputs=[io.Guider.Output(tooltip="GUIDER for SamplerCustomAdvanced with a RectiFlow edit sampler.")],
        )

    @classmethod
    def execute(cls, source_guider, target_guider) -> io.NodeOutput:
        return io.NodeOutput(guiders_edit_guider(source_guider, target_guider))


EDITING_GUIDER_NODES = [EditGuiderFromGuiders]
