"""UniEdit-Flow and DNAEdit SAMPLER nodes for SamplerCustomAdvanced with the RectiFlow Edit Guider (source and target
conditioning) and the source image's latent as latent_image. The maths lives in samplers/editing; these nodes hand it
the guider's two velocities, the schedule, the noise and progress (nodes/editing.py's EditKSampler)."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from ..samplers.editing import check_dnaedit_options, check_uniedit_options, dnaedit, uniedit
from ..samplers.editing.uniedit import MASK_MODES
from .editing import CATEGORY, edit_ksampler
from .validation import RectiFlowNode, check_finite, check_option

SAMPLER_OUTPUT = "SAMPLER for SamplerCustomAdvanced with the RectiFlow Edit Guider."


def uniedit_operator(omega: float, alpha: float, mask: str, mask_patch: int):
    def operator(v_src, v_tar, x_src, sigmas, noise, report):
        return uniedit(v_src, v_tar, x_src, sigmas, omega, alpha, mask, mask_patch, report)
    return operator


def dnaedit_operator(start: int, mvg: float, name: str):
    def operator(v_src, v_tar, x_src, sigmas, noise, report):
        if noise is None or torch.count_nonzero(noise) == 0:
            raise ValueError(f"noise: {name} aligns a Gaussian noise draw with the image; connect RandomNoise, not "
                             "DisableNoise")
        return dnaedit(v_src, v_tar, x_src, sigmas, noise.to(x_src), start, mvg, report)
    return operator


class SamplerUniEdit(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerUniEdit", display_name="RectiFlow Sampler UniEdit-Flow", category=CATEGORY,
            description="UniEdit-Flow (arXiv 2504.13109): Uni-Inv, a predictor-corrector inversion that reuses each "
                        "step's velocity (source branch), up to the sigma where the last floor(alpha x steps) steps "
                        "begin, then Uni-Edit back down: both branches at the same latent, guidance omega x (1 + m) x "
                        "(v_tar - v_src) plus the velocities fused by m, a region mask from where v_tar and v_src "
                        "differ. Use with the RectiFlow Edit Guider (official: cfg 1 on both branches), sigmas from "
                        "1 to 0 (official: 15 steps) and the source latent in SamplerCustomAdvanced. Model calls per "
                        "edit: 3K with K = floor(alpha x steps) (K for the inversion, whose extra call at sigma 0 is "
                        "free, 2K for the edit); CFG above 1 doubles each. The NOISE input is not used.",
            inputs=[
                io.Float.Input("omega", default=5.0, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Guidance strength of the edit (official 5; 0: velocity fusion only)."),
                io.Float.Input("alpha", default=0.6, min=0.01, max=1.0, step=0.01, round=0.001,
                               tooltip="Share of the steps that invert and edit: the edit starts floor(alpha x steps) "
                                       "steps before the end (official 0.6; larger: stronger edit, less preservation)."),
                io.Combo.Input("mask", options=list(MASK_MODES), default="signed",
                               tooltip="signed: the channel mean of v_tar - v_src (official diffusers code, SD3); "
                                       "abs: the mean of its magnitude (official FLUX code)."),
                io.Int.Input("mask_patch", default=1, min=1, max=8,
                             tooltip="The mask is averaged over mask_patch x mask_patch latent pixels: 1 as the "
                                     "official SD3 code, 2 as the official FLUX code (one mask value per 2x2 token)."),
            ],
            outputs=[io.Sampler.Output(tooltip=SAMPLER_OUTPUT)],
        )

    @classmethod
    def execute(cls, omega: float, alpha: float, mask: str, mask_patch: int) -> io.NodeOutput:
        check_finite(omega=omega, alpha=alpha)
        check_option("mask", mask, MASK_MODES)
        check_uniedit_options(omega, alpha, None, mask, mask_patch)
        operator = uniedit_operator(omega, alpha, mask, mask_patch)
        return io.NodeOutput(edit_ksampler(operator, cls.node_name(), steps_per_sigma=2))


class SamplerDNAEdit(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerDNAEdit", display_name="RectiFlow Sampler DNAEdit", category=CATEGORY,
            description="DNAEdit (arXiv 2506.01430): direct noise alignment inverts the source from the NOISE sample "
                        "up to sigma[start], correcting the noise estimate by the source velocity's error at each "
                        "step; mobile velocity guidance then samples back with the target branch, mixing its "
                        "velocity (weight mvg) with the straight line toward a FlowEdit-like reference. Use with the "
                        "RectiFlow Edit Guider, RandomNoise and sigmas from 1 to 0 (official SD3.5: 40 steps, start "
                        "13, mvg 0.8, source cfg 1, target cfg 3.5; Flux: 28 steps, start 4, guidance 1 / 2.5 with "
                        "cfg 1). Model calls per edit: 2 x (steps - start); CFG above 1 doubles each.",
            inputs=[
                io.Int.Input("start", default=13, min=0, max=10000,
                             tooltip="Steps skipped at the start of the schedule: the edit runs the last steps - "
                                     "start steps (official SD3.5 13 of 40, Flux 4 of 28; larger: closer to the "
                                     "source)."),
                io.Float.Input("mvg", default=0.8, min=0.0, max=1.0, step=0.01, round=0.001,
                               tooltip="Mobile velocity guidance: weight of the target velocity against the line "
                                       "toward the reference (official 0.8-0.9; larger: stronger edit, 1: no "
                                       "guidance)."),
            ],
            outputs=[io.Sampler.Output(tooltip=SAMPLER_OUTPUT)],
        )

    @classmethod
    def execute(cls, start: int, mvg: float) -> io.NodeOutput:
        check_finite(mvg=mvg)
        check_dnaedit_options(start, mvg)
        operator = dnaedit_operator(start, mvg, cls.node_name())
        return io.NodeOutput(edit_ksampler(operator, cls.node_name(), steps_per_sigma=2))


UNIEDIT_DNAEDIT_NODES = [SamplerUniEdit, SamplerDNAEdit]
