"""RF-Solver-Edit (arXiv 2411.04746) and FireFlow (arXiv 2412.07517) editing as one SAMPLER for SamplerCustomAdvanced
with the RectiFlow Edit Guider: second-order inversion under the source, regeneration under the target, with the
optional value-feature sharing on Flux / SD3 models (nodes/editing_values.py). The maths is
samplers/editing/solver_edit.py."""
from __future__ import annotations

import copy
import logging
from functools import partial

from comfy_api.latest import io

from ..samplers.editing import check_solver_edit_options, solver_edit
from ..samplers.editing.solver_edit import SOLVERS
from .editing import CATEGORY, EditKSampler
from .editing_values import BLOCK_CHOICES, value_bank_for
from .validation import RectiFlowNode, check_option


def solver_edit_operator(solver: str, inject: int):
    def operator(v_src, v_tar, x_src, sigmas, noise, report, hook=None):
        return solver_edit(v_src, v_tar, x_src, sigmas, solver, inject, hook, report)
    return operator


class SolverEditKSampler(EditKSampler):
    """EditKSampler that, for the run only, adds value sharing to the run's model_options (a copy: the guider, its
    MODEL and the SAMPLER itself are left as they were, also when the run fails)."""

    inject = 0
    blocks = "late"

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        self.check_inputs(model_wrap, latent_image, denoise_mask)
        bank = value_bank_for(model_wrap, self.inject, self.blocks, self.name)
        if bank is None:
            return super().sample(model_wrap, sigmas, extra_args, callback, noise, latent_image, denoise_mask,
                                  disable_pbar)
        run = copy.copy(self)
        run.sampler_function = partial(self.sampler_function, hook=bank.announce)
        run_args = {**extra_args, "model_options": bank.model_options(extra_args.get("model_options", {}))}
        out = EditKSampler.sample(run, model_wrap, sigmas, run_args, callback, noise, latent_image, denoise_mask,
                                  disable_pbar)
        problem = bank.summary(self.name)
        if problem:
            logging.warning(problem)
        return out


def solver_edit_ksampler(solver: str, inject: int, blocks: str, name: str) -> SolverEditKSampler:
    sampler = SolverEditKSampler(solver_edit_operator(solver, inject))
    sampler.name, sampler.steps_per_sigma, sampler.inject, sampler.blocks = name, 2, inject, blocks
    return sampler


class SamplerRFSolverEdit(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerRFSolverEdit", display_name="RectiFlow Sampler RF-Solver Edit", category=CATEGORY,
            description="RF-Solver-Edit (arXiv 2411.04746) / FireFlow (arXiv 2412.07517): inverts the source latent "
                        "with a second-order solver under the source branch, then regenerates under the target "
                        "branch, optionally sharing the inversion's attention values (V) in the first inject_steps "
                        "regeneration steps (Flux, SD3). Use with the RectiFlow Edit Guider and sigmas from 1 to 0. "
                        "Official (Flux): 15-30 steps, inject 2-5, guidance 1 (source) / 2-2.5 (target); FireFlow 8-15 "
                        "steps, inject 1. Model calls per edit: rf_solver 4 x steps - 1, fireflow 2 x steps + 1. "
                        "Deterministic; the NOISE input is not used.",
            inputs=[
                io.Combo.Input("solver", options=list(SOLVERS), default="rf_solver",
                               tooltip="rf_solver: second-order Taylor steps, 2 model calls per step (RF-Solver-Edit). "
                                       "fireflow: midpoint steps reusing the last midpoint velocity, 1 call per step "
                                       "+ 1 per pass (FireFlow)."),
                io.Int.Input("inject_steps", default=2, min=0, max=10000,
                             tooltip="Regeneration steps (the first, noisiest) that take the inversion's attention "
                                     "values V: more keeps more of the source. 0: no sharing. Official examples 2-5 "
                                     "of 15-30 steps (FireFlow 1 of 8-15). Needs a Flux or SD3 model; skipped with a "
                                     "warning on others. Keeps 2 V tensors per step and block on the offload device "
                                     "(Flux at 1024px, late blocks, inject 5: about 5 GB)."),
                io.Combo.Input("blocks", options=list(BLOCK_CHOICES), default="late",
                               tooltip="Blocks that share V. late: Flux single blocks 20-37 of 38 (official), SD3 "
                                       "joint blocks from the same share of depth. all: every attention block."),
            ],
            outputs=[io.Sampler.Output(tooltip="SAMPLER for SamplerCustomAdvanced with the RectiFlow Edit Guider.")],
        )

    @classmethod
    def execute(cls, solver: str, inject_steps: int, blocks: str) -> io.NodeOutput:
        check_option("solver", solver, SOLVERS)
        check_option("blocks", blocks, BLOCK_CHOICES)
        check_solver_edit_options(solver, inject_steps)
        return io.NodeOutput(solver_edit_ksampler(solver, inject_steps, blocks, cls.node_name()))


SOLVER_EDIT_NODES = [SamplerRFSolverEdit]
