"""RF-Solver-Edit's value sharing (arXiv 2411.04746) on ComfyUI's own Flux and SD3 architectures (tiny, random
weights) through the RectiFlow Edit Guider and SamplerCustomAdvanced: the V that the attention receives in the
regeneration is the V the inversion computed for the same shared step and stage, the run leaves the MODEL, guider
and SAMPLER as they were, and models without Flux/SD3 blocks run without sharing, with a clear warning."""
import logging

import pytest
import torch

from rectiflow.testing.comfy_host import pack_module, run_node
from tiny_models import text_conditioning, tiny_flux, tiny_sd3

ARCHITECTURES = {"flux": tiny_flux, "sd3": tiny_sd3}
STEPS = 4
pytestmark = pytest.mark.usefixtures("one_thread")


def source_latent() -> dict:
    return {"samples": torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(9)) * 0.5}


def with_spy(model, seen: list):
    """A MODEL clone whose attention override records the V every attention call is handed (chained after ours)."""
    spied = model.clone()

    def spy(func, q, k, v, *args, **kwargs):
        seen.append(v.detach().clone())
        return func(q, k, v, *args, **kwargs)
    spied.model_options.setdefault("transformer_options", {})["optimized_attention_override"] = spy
    return spied


def edit(model, solver="rf_solver", inject=STEPS, blocks="all", source_cfg=1.0, target_cfg=1.0, latent=None):
    guider = run_node("RectiFlowEditGuider", model=model, source=text_conditioning(1), target=text_conditioning(2),
                      negative=text_conditioning(3), source_cfg=source_cfg, target_cfg=target_cfg)[0]
    sampler = run_node("RectiFlowSamplerRFSolverEdit", solver=solver, inject_steps=inject, blocks=blocks)[0]
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=STEPS, denoise=1.0)[0]
    return run_node("SamplerCustomAdvanced", noise=run_node("DisableNoise")[0], guider=guider, sampler=sampler,
                    sigmas=sigmas, latent_image=latent or source_latent())[0]["samples"]


def evaluations(solver: str, phase: str) -> list[tuple[int, int]]:
    """(step, stage) of every model evaluation of a pass, in order (the inversion's start at sigma 0 is free)."""
    order = []
    for i in range(STEPS):
        free = phase == "inversion" and i == 0                  # the inversion's first start is at sigma 0
        starts = not free and (solver == "rf_solver" or i == 0)   # FireFlow reuses the last midpoint velocity
        order += ([(i, 0)] if starts else []) + [(i, 1)]
    return order


def regeneration_uses_stored_values(seen: list, solver: str, calls_per_evaluation: int) -> bool:
    """Whether each regeneration step j, stage s got the V of inversion step T-1-j, stage s, where it exists."""
    inversion, regeneration = evaluations(solver, "inversion"), evaluations(solver, "regeneration")
    assert len(seen) == (len(inversion) + len(regeneration)) * calls_per_evaluation
    stored = {key: seen[n * calls_per_evaluation:(n + 1) * calls_per_evaluation] for n, key in enumerate(inversion)}
    offset = len(inversion) * calls_per_evaluation
    checked = 0
    for n, (step, stage) in enumerate(regeneration):
        twin = stored.get((STEPS - 1 - step, stage))
        if twin is None:
            continue
        got = seen[offset + n * calls_per_evaluation: offset + (n + 1) * calls_per_evaluation]
        if not all(torch.equal(a, b) for a, b in zip(got, twin)):
            return False
        checked += 1
    return checked >= len(regeneration) - 1


@pytest.fixture(scope="module", params=list(ARCHITECTURES))
def arch(request, comfy):
    return request.param, ARCHITECTURES[request.param]()


ATTENTION_CALLS = {"flux": 2, "sd3": 1}   # "all" blocks: Flux 1 double + 1 single block, SD3 1 joint block


@pytest.mark.parametrize("solver", ["rf_solver", "fireflow"])
def test_the_regeneration_attends_with_the_inversions_values(arch, solver):
    name, model = arch
    seen = []
    out = edit(with_spy(model, seen), solver)
    assert torch.isfinite(out).all()
    assert regeneration_uses_stored_values(seen, solver, ATTENTION_CALLS[name])


def test_a_broken_injection_is_caught(arch, monkeypatch):
    """The check above fails when the injection is skipped (the bank stores but never swaps V)."""
    name, model = arch
    bank = pack_module("nodes.editing_values").ValueBank
    announce = bank.announce

    def never_inject(self, mode, step, stage):
        announce(self, "off" if mode == "inject" else mode, step, stage)
    monkeypatch.setattr(bank, "announce", never_inject)
    seen = []
    edit(with_spy(model, seen))
    assert not regeneration_uses_stored_values(seen, "rf_solver", ATTENTION_CALLS[name])


def test_value_sharing_changes_the_edit_and_inject_zero_is_the_plain_solver_edit(arch):
    _, model = arch
    shared, plain = edit(model, inject=STEPS), edit(model, inject=0)
    assert (shared - plain).abs().max() > 1e-4
    seen = []
    assert torch.equal(edit(with_spy(model, seen), inject=0), plain)


def test_late_blocks_share_only_the_late_single_blocks(comfy):
    """Official: Flux single blocks 20..37 of 38; the tiny Flux has one single block (shared) and one double block."""
    values = pack_module("nodes.editing_values")
    flux = tiny_flux().model.diffusion_model
    assert values.shared_blocks(flux, "late") == [("single_block", 0)]
    assert values.shared_blocks(flux, "all") == [("double_block", 0), ("single_block", 0)]
    flux.single_blocks = flux.single_blocks.__class__(list(flux.single_blocks) * 38)
    assert values.shared_blocks(flux, "late") == [("single_block", i) for i in range(20, 38)]


def test_the_same_edit_twice_is_identical(arch):
    _, model = arch
    assert torch.equal(edit(model, "fireflow", inject=2), edit(model, "fireflow", inject=2))


def test_a_cfg_one_inversion_feeds_the_cond_chunk_of_a_guided_regeneration(arch, caplog):
    """V is kept per cond/uncond chunk: the negative branch of a cfg 4 regeneration has no stored twin."""
    _, model = arch
    with caplog.at_level(logging.WARNING):
        out = edit(model, inject=2, source_cfg=1.0, target_cfg=4.0)
    assert torch.isfinite(out).all()
    assert "value sharing injected" in caplog.text and "no stored twin" in caplog.text


def test_the_run_leaves_model_guider_and_sampler_as_they_were(arch):
    _, model = arch
    options_before = repr(model.model_options)
    guider = run_node("RectiFlowEditGuider", model=model, source=text_conditioning(1), target=text_conditioning(2),
                      negative=text_conditioning(3), source_cfg=1.0, target_cfg=1.0)[0]
    sampler = run_node("RectiFlowSamplerRFSolverEdit", solver="rf_solver", inject_steps=2, blocks="all")[0]
    function = sampler.sampler_function
    sigmas = run_node("BasicScheduler", model=model, scheduler="simple", steps=STEPS, denoise=1.0)[0]
    with pytest.raises(ValueError, match="latent_image: expected a latent with 16 channels"):
        run_node("SamplerCustomAdvanced", noise=run_node("DisableNoise")[0], guider=guider, sampler=sampler,
                 sigmas=sigmas, latent_image={"samples": torch.ones(1, 4, 8, 8)})
    run_node("SamplerCustomAdvanced", noise=run_node("DisableNoise")[0], guider=guider, sampler=sampler,
             sigmas=sigmas, latent_image=source_latent())
    assert repr(model.model_options) == options_before
    assert "optimized_attention_override" not in guider.model_options.get("transformer_options", {})
    assert sampler.sampler_function is function
