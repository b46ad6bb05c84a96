"""GUIDER objects: LawGuider (a CFGGuider whose combination is a law) and StepGuider (laws that are whole steps
with model calls at other points: Rectified-CFG++, CFG-MP)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

import comfy.samplers

from ..samplers import guidance as g
from .guidance_laws import GuidanceLaw
from .guidance_patches import check_guided, make_cfg_function, require_flow_model
from .guidance_runs import RunState, guidance_step, schedule_position


class LawGuider(comfy.samplers.CFGGuider):
    """A CFGGuider whose cond/uncond combination is a RectiFlow guidance law in velocity space."""

    def __init__(self, model_patcher, law: GuidanceLaw, node: str = "RectiFlow guider"):
        super().__init__(model_patcher)
        self.law = law
        self.node = node
        self.set_cfg(law.guider_cfg)
        self.run = RunState(law)

    def outer_sample(self, *args, **kwargs):
        self.run = RunState(self.law)
        return super().outer_sample(*args, **kwargs)

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        step = guidance_step(x, timestep, model_options, self.run)
        negative = self.conds.get("negative") if self.law.uses_uncond(step, self.run.state) else None
        previous = model_options.get("sampler_cfg_function")
        cfg_function = make_cfg_function(self.law, lambda _: (self.run, step), previous)
        options = {**model_options, "sampler_cfg_function": cfg_function, "disable_cfg1_optimization": True}
        out = comfy.samplers.sampling_function(self.inner_model, x, timestep, negative, self.conds.get("positive"),
                                               self.cfg, model_options=options, seed=seed)
        return check_guided(out, self.node, float(step.sigma[0]), step.position.step)


def law_guider(model, positive, negative, law: GuidanceLaw, node: str = "RectiFlow guider") -> LawGuider:
    """A LawGuider for `law`; `node` (the node's display name) is named in its errors."""
    require_flow_model(model)
    guider = LawGuider(model, law, node)
    guider.set_conds(positive, negative)
    return guider


StepFn = Callable[..., Tensor]   # (pair_fn, cond_fn, uncond_fn, x, sigma, sigma_next) -> x_next


class StepGuider(comfy.samplers.CFGGuider):
    """A CFGGuider for laws that are whole steps: it returns the x0 whose Euler step to the schedule's next sigma
    lands where the law's step lands (exact with Euler samplers). Extra model calls go through ComfyUI's
    calc_cond_batch (areas, masks, model patches); pre/post-cfg functions are not applied. Without a
    multi-step schedule, or at sigma 0, it is plain CFG at its weight."""

    def __init__(self, model_patcher, step: StepFn, weight: float, node: str = "RectiFlow guider"):
        super().__init__(model_patcher)
        self.step = step
        self.node = node
        self.set_cfg(weight)

    def predict_noise(self, x, timestep, model_options={}, seed=None):
        sigma = float(torch.as_tensor(timestep).reshape(-1)[0])
        position = schedule_position(sigma, model_options.get("transformer_options", {}).get("sample_sigmas"))
        step = None if position is None else position.step
        if position is None or sigma <= 0 or position.next_sigma in (None, sigma):
            return check_guided(super().predict_noise(x, timestep, model_options, seed), self.node, sigma, step)
        x32 = x.float()
        x_next = self.step(*self.velocity_fns(timestep, model_options), x32, sigma, position.next_sigma)
        v = (x_next - x32) / (position.next_sigma - sigma)
        return check_guided((x32 - sigma * v).to(x.dtype), self.node, sigma, step)

    def velocity_fns(self, timestep: Tensor, model_options: dict) -> tuple[Callable, Callable, Callable]:
        positive, negative = self.conds.get("positive"), self.conds.get("negative")

        def velocities(conds: list, y: Tensor, s: float) -> list[Tensor]:
            if s == 0:      # exact velocity at sigma 0, without a model call (docs/design.md section 1)
                return [-y for _ in conds]
            outs = comfy.samplers.calc_cond_batch(self.inner_model, conds, y, torch.full_like(timestep, s),
                                                  model_options)
            return [(y - out.float()) / s for out in outs]
        return (lambda y, s: tuple(velocities([positive, negative], y, s)),
                lambda y, s: velocities([positive], y, s)[0],
                lambda y, s: velocities([negative], y, s)[0])


def rectified_cfgpp_step_fn(law: g.RectifiedCFGPP) -> StepFn:
    def step(pair_fn, cond_fn, uncond_fn, x, sigma, sigma_next):
        return law.step(pair_fn, x, sigma, sigma_next, cond_fn)
    return step


def cfg_mp_step_fn(law: g.CFGMP) -> StepFn:
    def step(pair_fn, cond_fn, uncond_fn, x, sigma, sigma_next):
        return law.step(cond_fn, uncond_fn, x, sigma, sigma_next)
    return step


def step_guider(model, positive, negative, step: StepFn, weight: float, node: str = "RectiFlow guider") -> StepGuider:
    """A StepGuider for `step`; `node` (the node's display name) is named in its errors."""
    require_flow_model(model)
    guider = StepGuider(model, step, weight, node)
    guider.set_conds(positive, negative)
    return guider
