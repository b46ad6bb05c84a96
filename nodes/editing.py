"""Editing nodes: a GUIDER carrying source and target conditioning, and one SAMPLER per operator (FlowEdit,
RF-Inversion), for SamplerCustomAdvanced with the source image's latent as its latent_image. The maths lives in
samplers/editing; these classes only hand it the guider's two velocities, the schedule, noise and progress."""
from __future__ import annotations

import torch
from comfy_api.latest import io

import comfy.model_management
import comfy.samplers

from ..samplers.editing import check_flowedit_options, check_rf_inversion_options, flow_edit, rf_inversion
from ..samplers.solvers.core import flow_velocity
from .errors import NonFiniteLatentError, check_finite_output
from .flow_models import is_flow_model
from .validation import RectiFlowNode, check_finite
from .velocity_flow import velocity_at_zero_is_minus_x

CATEGORY = "sampling/rectiflow/editing"
EDIT_BRANCH = "rectiflow_edit_branch"   # model_options key: which conditioning the edit guider predicts with


class EditGuider(comfy.samplers.CFGGuider):
    """A CFGGuider with a second positive conditioning, `source`, and its own cfg. The edit samplers ask for
    either branch through model_options[EDIT_BRANCH]; any other sampler gets the target branch (plain CFG)."""

    def __init__(self, model_patcher, source_cfg: float, target_cfg: float):
        super().__init__(model_patcher)
        self.source_cfg = source_cfg
        self.set_cfg(target_cfg)

    def set_edit_conds(self, source, target, negative) -> None:
        self.inner_set_conds({"positive": target, "source": source, "negative": negative})

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        source = model_options.get(EDIT_BRANCH) == "source"
        positive = self.conds.get("source" if source else "positive")
        cfg = self.source_cfg if source else self.cfg
        return comfy.samplers.sampling_function(self.inner_model, x, timestep, self.conds.get("negative"), positive,
                                                cfg, model_options=model_options, seed=seed)


def check_conditioning(value, name: str) -> None:
    if not isinstance(value, list) or len(value) == 0:
        raise ValueError(f"{name}: expected CONDITIONING (e.g. from CLIP Text Encode), got "
                         f"{'an empty list' if isinstance(value, list) else type(value).__name__}")


def branch_velocity(guider: EditGuider, branch: str, extra_args: dict):
    """(x, sigma) -> dx/dsigma of one branch, v = (x - x0_hat) / sigma; v(x, 0) = -x exactly (docs/design.md)."""
    options = {**extra_args.get("model_options", {}), EDIT_BRANCH: branch}
    seed = extra_args.get("seed")
    exact_at_zero = velocity_at_zero_is_minus_x(guider.inner_model.model_sampling)   # false for PeRFlow

    def velocity(x: torch.Tensor, sigma: float) -> torch.Tensor:
        if sigma == 0.0 and not exact_at_zero:
            raise ValueError("model: this flow's velocity at sigma 0 is not -x (e.g. PeRFlow), and an inversion "
                             "from the image needs it there; use FlowEdit, which never evaluates sigma 0")
        return flow_velocity(guider, x, sigma, {"model_options": options, "seed": seed})[0]
    return velocity


def step_reporter(name: str, callback, total_steps: int):
    """Callback for samplers/editing: honours interrupts, checks the state is finite, feeds ComfyUI's preview."""
    def report(i: int, x: torch.Tensor, denoised: torch.Tensor, sigma: float) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        check_finite_output(x, name, sigma, i, "the edited latent", "lower the cfg scales")
        if callback is not None:
            callback(i, denoised, x, total_steps)
    return report


class EditKSampler(comfy.samplers.KSAMPLER):
    """KSAMPLER for an edit operator: `latent_image` is the source, the guider must be an EditGuider, and the
    operator function gets (v_src, v_tar, x_src, sigmas, noise, report)."""

    name = "RectiFlow edit sampler"   # set per instance by edit_ksampler
    steps_per_sigma = 1

    def check_inputs(self, guider, latent_image, denoise_mask) -> None:
        if not isinstance(guider, EditGuider):
            raise ValueError(f"guider: {self.name} needs the RectiFlow Edit Guider (source and target "
                             f"conditioning), got {type(guider).__name__}")
        if denoise_mask is not None:
            raise ValueError(f"latent_image: {self.name} does not take a noise mask yet; remove SetLatentNoiseMask")
        if latent_image is None or torch.count_nonzero(latent_image) == 0:
            raise ValueError(f"latent_image: {self.name} edits an image; expected the source image's latent "
                             "(VAE Encode), got an empty latent")
        channels = guider.inner_model.latent_format.latent_channels
        if latent_image.ndim < 4 or latent_image.shape[1] != channels:
            raise ValueError(f"latent_image: expected a latent with {channels} channels for this model, got shape "
                             f"{list(latent_image.shape)}")

    def progress_steps(self, sigmas) -> int:
        """Steps the progress bar counts for this schedule (the operator's callback calls)."""
        return self.steps_per_sigma * (len(sigmas) - 1)

    def sample(self, model_wrap, sigmas, extra_args, callback, noise, latent_image=None, denoise_mask=None,
               disable_pbar=False):
        self.check_inputs(model_wrap, latent_image, denoise_mask)
        report = step_reporter(self.name, callback, self.progress_steps(sigmas))
        out = self.sampler_function(branch_velocity(model_wrap, "source", extra_args),
                                    branch_velocity(model_wrap, "target", extra_args),
                                    latent_image.float(), sigmas, noise, report)
        if not bool(torch.isfinite(out).all()):
            raise NonFiniteLatentError(f"{self.name}: the edited latent contains NaN or infinite values")
        return out.to(latent_image.dtype)


def edit_ksampler(operator, name: str, steps_per_sigma: int = 1) -> EditKSampler:
    """The SAMPLER an edit node hands ComfyUI; `name` (the node's display name) is named in its errors."""
    sampler = EditKSampler(operator)
    sampler.name, sampler.steps_per_sigma = name, steps_per_sigma
    return sampler


def flowedit_operator(n_max: int, n_min: int, n_avg: int, seed: int):
    def operator(v_src, v_tar, x_src, sigmas, noise, report):
        generator = torch.Generator().manual_seed(seed)

        def draw() -> torch.Tensor:
            return torch.randn(x_src.shape, generator=generator).to(x_src.device)
        return flow_edit(v_src, v_tar, x_src, sigmas, draw, n_max, n_min, n_avg, report)
    return operator


def rf_inversion_operator(gamma: float, eta: float, start_step: int, stop_step: int, name: str):
    def operator(v_src, v_tar, x_src, sigmas, noise, report):
        if noise is None or torch.count_nonzero(noise) == 0:
            raise ValueError(f"noise: {name} inverts toward a noise sample; connect RandomNoise, not DisableNoise")
        return rf_inversion(v_src, v_tar, x_src, noise.to(x_src), sigmas, gamma, eta, start_step, stop_step,
                            report)
    return operator


class EditGuiderNode(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowEditGuider", display_name="RectiFlow Edit Guider", category=CATEGORY,
            description="Source and target conditioning for the RectiFlow edit samplers (FlowEdit, RF-Inversion, "
                        "UniEdit-Flow, DNAEdit, FlowOpt, FlowChef, RF-Solver Edit) in SamplerCustomAdvanced, "
                        "with the source image's latent as latent_image. Any other sampler samples the target with "
                        "CFG. Patches on the MODEL (guidance patches) apply to both.",
            inputs=[
                io.Model.Input("model", tooltip="A flow (CONST) model: SD3, Flux, Qwen-Image, the digits model..."),
                io.Conditioning.Input("source", tooltip="Describes the source image (FlowEdit's source prompt; "
                                                        "RF-Inversion inverts with it, often an empty prompt)."),
                io.Conditioning.Input("target", tooltip="Describes the edited image (the target prompt)."),
                io.Conditioning.Input("negative", tooltip="Negative conditioning shared by both branches."),
                io.Float.Input("source_cfg", default=3.5, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="CFG scale of the source branch (FlowEdit SD3 3.5; Flux uses its guidance "
                                       "1.5 with cfg 1)."),
                io.Float.Input("target_cfg", default=13.5, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="CFG scale of the target branch (FlowEdit SD3 13.5; Flux guidance 5.5 with "
                                       "cfg 1)."),
            ],
            outputs=[io.Guider.Output(tooltip="GUIDER for SamplerCustomAdvanced with a RectiFlow edit sampler.")],
        )

    @classmethod
    def execute(cls, model, source, target, negative, source_cfg: float, target_cfg: float) -> io.NodeOutput:
        check_finite(source_cfg=source_cfg, target_cfg=target_cfg)
        if not is_flow_model(model):
            raise ValueError("model: the edit guider needs a flow (CONST) model such as SD3, Flux or the digits "
                             f"model, got model sampling {type(model.get_model_object('model_sampling')).__name__}")
        for name, value in (("source", source), ("target", target), ("negative", negative)):
            check_conditioning(value, name)
        guider = EditGuider(model, source_cfg, target_cfg)
        guider.set_edit_conds(source, target, negative)
        return io.NodeOutput(guider)


class SamplerFlowEdit(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerFlowEdit", display_name="RectiFlow Sampler FlowEdit", category=CATEGORY,
            description="FlowEdit (arXiv 2412.08629), inversion-free: integrates v_tar(z_tar) - v_src(z_src) on "
                        "noisy copies of the source. Use with the RectiFlow Edit Guider, sigmas from 1 to 0 and the "
                        "source latent in SamplerCustomAdvanced. Official: SD3 50 steps, n_max 33, cfg 3.5/13.5; "
                        "Flux 28 steps, n_max 24, guidance 1.5/5.5. 2 model branches x n_avg per step. Its own seed draws "
                        "the noise; SamplerCustomAdvanced's NOISE input is not used.",
            inputs=[
                io.Int.Input("n_max", default=33, min=1, max=10000,
                             tooltip="The edit runs over the last n_max steps of the schedule (larger: stronger "
                                     "edit, less preservation). SD3 33 of 50, Flux 24 of 28."),
                io.Int.Input("n_min", default=0, min=0, max=10000,
                             tooltip="The last n_min steps sample the target alone (SDEdit-style, official code); "
                                     "0 by default."),
                io.Int.Input("n_avg", default=1, min=1, max=64,
                             tooltip="Noise draws averaged per step (official default 1)."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Seed of the noise draws; the same seed gives the same edit."),
            ],
            outputs=[io.Sampler.Output(tooltip="SAMPLER for SamplerCustomAdvanced with the RectiFlow Edit Guider.")],
        )

    @classmethod
    def execute(cls, n_max: int, n_min: int, n_avg: int, seed: int) -> io.NodeOutput:
        check_flowedit_options(n_max, n_min, n_avg)
        return io.NodeOutput(edit_ksampler(flowedit_operator(n_max, n_min, n_avg, seed), cls.node_name()))


class SamplerRFInversion(RectiFlowNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="RectiFlowSamplerRFInversion", display_name="RectiFlow Sampler RF-Inversion", category=CATEGORY,
            description="RF-Inversion (arXiv 2410.10792): a controlled forward ODE from the source toward the NOISE "
                        "sample (gain gamma, source branch), then a controlled reverse ODE back toward the source "
                        "(gain eta for steps start_step..stop_step-1, target branch). Use with the RectiFlow Edit "
                        "Guider, RandomNoise and sigmas from 1 to 0 (official: Flux 28 steps); 2 x steps model calls.",
            inputs=[
                io.Float.Input("gamma", default=0.5, min=0.0, max=1.0, step=0.01, round=0.001,
                               tooltip="Forward controller gain toward the noise (0: plain inversion; paper 0.5)."),
                io.Float.Input("eta", default=0.9, min=0.0, max=1.0, step=0.01, round=0.001,
                               tooltip="Reverse controller gain toward the source (0: plain sampling; 0.9-1.0 keeps "
                                       "more of the source)."),
                io.Int.Input("start_step", default=0, min=0, max=10000,
                             tooltip="First reverse step where eta applies (official 0)."),
                io.Int.Input("stop_step", default=7, min=0, max=10000,
                             tooltip="Reverse steps from stop_step on run without control (official examples: 7 "
                                     "of 28; later: closer to the source, weaker edit)."),
            ],
            outputs=[io.Sampler.Output(tooltip="SAMPLER for SamplerCustomAdvanced with the RectiFlow Edit Guider.")],
        )

    @classmethod
    def execute(cls, gamma: float, eta: float, start_step: int, stop_step: int) -> io.NodeOutput:
        check_finite(gamma=gamma, eta=eta)
        check_rf_inversion_options(gamma, eta, start_step, stop_step)
        operator = rf_inversion_operator(gamma, eta, start_step, stop_step, cls.node_name())
        return io.NodeOutput(edit_ksampler(operator, cls.node_name(), steps_per_sigma=2))


EDITING_NODES = [EditGuiderNode, SamplerFlowEdit, SamplerRFInversion]
