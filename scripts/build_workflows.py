"""Write the example workflows in workflows/ (ComfyUI UI format, the files people drag into the editor).

    python scripts/build_workflows.py

Each workflow is declared once here as a small graph; links carry the socket type so the file loads in the
editor without a server round trip.
"""
from __future__ import annotations

import json
from pathlib import Path

from digits_edit_workflows import DIGITS_EDIT_WORKFLOWS  # scripts/ is on the path when this file runs
from editing_real_workflows import EDITING_REAL_WORKFLOWS
from reflow_family_workflows import FAMILY_WORKFLOWS
from reflow_workflows import REFLOW_WORKFLOWS as INSTAFLOW_WORKFLOWS
from solver_edit_workflows import SOLVER_EDIT_WORKFLOWS
from steer_workflows import STEER_WORKFLOWS
from workflow_graph import Graph, decode_and_save, digits_inputs, link_cfg_inputs, sample_and_save

REFLOW_WORKFLOWS = {**INSTAFLOW_WORKFLOWS, **FAMILY_WORKFLOWS, **EDITING_REAL_WORKFLOWS, **STEER_WORKFLOWS,
                    **SOLVER_EDIT_WORKFLOWS}

ROOT = Path(__file__).resolve().parents[1]


def digits_quickstart() -> dict:
    """10 x 4 grid of generated digits, one column per label, RectiFlow Euler at 32 steps with CFG."""
    g = Graph()
    loader, pos, neg, latent = digits_inputs(g, 40)
    noise = g.node("RandomNoise", [2026, "fixed"], [("NOISE", "NOISE")], pos=(360, 0))
    guider = g.node("CFGGuider", [3.0], [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")], pos=(360, 160))
    sampler = g.node("RectiFlowSamplerEuler", [], [("SAMPLER", "SAMPLER")], pos=(360, 340))
    sched = g.node("BasicScheduler", ["simple", 32, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                   pos=(360, 440))
    link_cfg_inputs(g, loader, pos, neg, guider)
    g.link(loader, 0, sched, "model")
    sample_and_save(g, noise, guider, sampler, sched, latent, "rectiflow_digits")
    return g.to_json()


def digits_optimal_steps() -> dict:
    """Few-step generation: 4 AB2 steps on Bellman-optimal sigmas, next to the straightness inspector's plot; both
    read one reference trajectory from the noise the sampler uses, which ComfyUI computes once and caches."""
    g = Graph()
    loader, pos, neg, latent = digits_inputs(g, 20)
    guider = g.node("CFGGuider", [3.0], [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")], pos=(360, 0))
    reference = g.node("RectiFlowReferenceTrajectory", [0, "fixed", 64],
                       [("trajectory", "RECTIFLOW_TRAJECTORY"), ("report", "STRING")],
                       [("guider", "GUIDER"), ("latent_image", "LATENT"), ("noise", "NOISE")], pos=(360, 180))
    optimal = g.node("RectiFlowOptimalSteps", [4], [("SIGMAS", "SIGMAS"), ("report", "STRING")],
                     [("trajectory", "RECTIFLOW_TRAJECTORY")], pos=(360, 400))
    inspector = g.node("RectiFlowStraightnessInspector", [0.1],
                       [("plot", "IMAGE"), ("recommended_steps", "INT"), ("report", "STRING")],
                       [("trajectory", "RECTIFLOW_TRAJECTORY")], pos=(720, 400))
    sampler = g.node("RectiFlowSamplerSelect", ["ab2"], [("SAMPLER", "SAMPLER")], pos=(360, 540))
    noise = g.node("RandomNoise", [7, "fixed"], [("NOISE", "NOISE")], pos=(360, 660))
    link_cfg_inputs(g, loader, pos, neg, guider)
    g.link(guider, 0, reference, "guider")
    g.link(latent, 0, reference, "latent_image")
    g.link(noise, 0, reference, "noise")
    for dst in (optimal, inspector):
        g.link(reference, 0, dst, "trajectory")
    sample_and_save(g, noise, guider, sampler, optimal, latent, "rectiflow_optimal_4_steps")
    save_plot = g.node("SaveImage", ["rectiflow_straightness"], [], [("images", "IMAGE")], pos=(1080, 400))
    g.link(inspector, 0, save_plot, "images")
    cost = g.node("PreviewAny", [], [], [("source", "*")], pos=(720, 640),
                  title="Optimal steps and reference cost (model calls)")
    g.link(optimal, 1, cost, "source")
    return g.to_json()


def digits_learned_solver() -> dict:
    """Few-step generation with a solver learned for this guided model: RectiFlow Learn Solver fits its coefficients
    and time steps (a small training budget, seconds on a CPU), then SamplerCustomAdvanced runs its SAMPLER on its
    SIGMAS; the plot compares it with Euler and the best fixed solver on held-out noise."""
    g = Graph()
    loader, pos, neg, latent = digits_inputs(g, 20)
    guider = g.node("CFGGuider", [3.0], [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")], pos=(360, 0))
    learn = g.node("RectiFlowLearnSolver", [0, 4, 10, 1, 12],
                   [("sampler", "SAMPLER"), ("sigmas", "SIGMAS"), ("report", "STRING"), ("plot", "IMAGE")],
                   [("guider", "GUIDER"), ("latent_image", "LATENT")], pos=(360, 180),
                   title="Learn Solver (4 NFE; raise iterations and train_batches for a better fit)")
    noise = g.node("RandomNoise", [7, "fixed"], [("NOISE", "NOISE")], pos=(360, 480))
    link_cfg_inputs(g, loader, pos, neg, guider)
    g.link(guider, 0, learn, "guider")
    g.link(latent, 0, learn, "latent_image")
    run = g.node("SamplerCustomAdvanced", [], [("output", "LATENT"), ("denoised_output", "LATENT")],
                 [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                  ("latent_image", "LATENT")], pos=(720, 0))
    for src, slot, name in ((noise, 0, "noise"), (guider, 0, "guider"), (learn, 0, "sampler"), (learn, 1, "sigmas"),
                            (latent, 0, "latent_image")):
        g.link(src, slot, run, name)
    decode_and_save(g, run, "rectiflow_learned_4_nfe")
    save_plot = g.node("SaveImage", ["rectiflow_learned_solver_error"], [], [("images", "IMAGE")], pos=(1080, 500),
                       title="Validation error vs NFE")
    g.link(learn, 3, save_plot, "images")
    report = g.node("PreviewAny", [], [], [("source", "*")], pos=(720, 400), title="Learn Solver report")
    g.link(learn, 2, report, "source")
    return g.to_json()


def guidance_raag_few_steps() -> dict:
    """RAAG at 6 Euler steps: adaptive weight, strong where cond and uncond agree, weak where they differ."""
    g = Graph()
    loader, pos, neg, latent = digits_inputs(g, 20)
    guider = g.node("RectiFlowGuiderRAAG", [6.0, 4.0, "sample"], [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")], pos=(360, 0),
                    title="RAAG (digits: w_max 6, alpha 4; SD3.5: 18, 12)")
    noise = g.node("RandomNoise", [2026, "fixed"], [("NOISE", "NOISE")], pos=(360, 200))
    sampler = g.node("RectiFlowSamplerEuler", [], [("SAMPLER", "SAMPLER")], pos=(360, 340))
    sched = g.node("BasicScheduler", ["simple", 6, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                   pos=(360, 440), title="6 steps")
    link_cfg_inputs(g, loader, pos, neg, guider)
    g.link(loader, 0, sched, "model")
    sample_and_save(g, noise, guider, sampler, sched, latent, "rectiflow_raag_few_steps")
    return g.to_json()


def guidance_smc_inspector() -> dict:
    """SMC-CFG through the Guidance Inspector: the digits, a plot of r, |e|, effective w and switching per step,
    and the numbers as text."""
    g = Graph()
    loader, pos, neg, latent = digits_inputs(g, 20)
    guider = g.node("RectiFlowGuiderSMCCFG", [3.0, 5.0, 0.5, "relative", 0, 0.0], [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")], pos=(360, 0),
                    title="SMC-CFG (w 3; relative K 0.5 suits any model; SD3.5: w 7.5)")
    noise = g.node("RandomNoise", [2026, "fixed"], [("NOISE", "NOISE")], pos=(360, 260))
    sampler = g.node("KSamplerSelect", ["heun"], [("SAMPLER", "SAMPLER")], pos=(360, 400))
    sched = g.node("BasicScheduler", ["simple", 12, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                   pos=(360, 500))
    inspector = g.node("RectiFlowGuidanceInspector", [],
                       [("output", "LATENT"), ("plot", "IMAGE"), ("report", "STRING")],
                       [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                        ("latent_image", "LATENT")], pos=(720, 0))
    link_cfg_inputs(g, loader, pos, neg, guider)
    g.link(loader, 0, sched, "model")
    for src, name in ((noise, "noise"), (guider, "guider"), (sampler, "sampler"), (sched, "sigmas"),
                      (latent, "latent_image")):
        g.link(src, 0, inspector, name)
    decode_and_save(g, inspector, "rectiflow_smc_digits")
    save_plot = g.node("SaveImage", ["rectiflow_smc_inspector"], [], [("images", "IMAGE")], pos=(1080, 500),
                       title="Guidance Inspector plot")
    text = g.node("PreviewAny", [], [], [("source", "*")], pos=(720, 400), title="Guidance Inspector numbers")
    g.link(inspector, 1, save_plot, "images")
    g.link(inspector, 2, text, "source")
    return g.to_json()


def digits_reflow_one_step() -> dict:
    """The reflowed digits models beside their teacher, same noise and labels: the one-step distilled model at 1 step,
    the 2-rectified flow at 2 steps (both cfg 1, guidance baked in) and the teacher at 32 steps with CFG 3, the three
    grids stitched one above the other so each keeps a column per label (scripts/train_reflow.py; Rectified Flow arXiv 2209.03003, Lee et al. arXiv 2405.20320)."""
    g = Graph()
    teacher, pos, neg, latent = digits_inputs(g, 20)
    noise = g.node("RandomNoise", [2026, "fixed"], [("NOISE", "NOISE")], pos=(0, 620))
    sampler = g.node("RectiFlowSamplerEuler", [], [("SAMPLER", "SAMPLER")], pos=(0, 760))
    grids = []
    for row, (name, cfg, steps, title) in enumerate((
            ("digits_rf_1step.safetensors", 1.0, 1, "1-step model: 1 step, cfg 1"),
            ("digits_rf_2rf.safetensors", 1.0, 2, "2-rectified flow: 2 steps, cfg 1"),
            ("digits_rf.safetensors", 3.0, 32, "Teacher: 32 steps, CFG 3"))):
        y = 360 * row
        loader = teacher if name == "digits_rf.safetensors" else g.node(
            "RectiFlowDigitsModelLoader", [name], [("MODEL", "MODEL")], pos=(0, y - 1), title=title)
        guider = g.node("CFGGuider", [cfg], [("GUIDER", "GUIDER")],
                        [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
                        pos=(360, y), title=f"Guider: {title}")
        sched = g.node("BasicScheduler", ["simple", steps, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                       pos=(360, y + 160), title=f"{steps} steps")
        link_cfg_inputs(g, loader, pos, neg, guider)
        g.link(loader, 0, sched, "model")
        run = g.node("SamplerCustomAdvanced", [], [("output", "LATENT"), ("denoised_output", "LATENT")],
                     [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                      ("latent_image", "LATENT")], pos=(720, y), title=title)
        for src, input_name in ((noise, "noise"), (guider, "guider"), (sampler, "sampler"), (sched, "sigmas"),
                                (latent, "latent_image")):
            g.link(src, 0, run, input_name)
        image = g.node("RectiFlowDigitsLatentToImage", [4, 10], [("IMAGE", "IMAGE")], [("samples", "LATENT")],
                       pos=(1080, y))
        g.link(run, 0, image, "samples")
        grids.append(image)
    left = grids[0]
    for right in grids[1:]:
        stitch = g.node("ImageStitch", ["down", True, 16, "black"], [("IMAGE", "IMAGE")],
                        [("image1", "IMAGE"), ("image2", "IMAGE")], pos=(1440, 0),
                        title="Top to bottom: 1 step, 2 steps, teacher 32 steps")
        g.link(left, 0, stitch, "image1")
        g.link(right, 0, stitch, "image2")
        left = stitch
    save = g.node("SaveImage", ["rectiflow_reflow_1_2_vs_32_steps"], [], [("images", "IMAGE")], pos=(1800, 0))
    g.link(left, 0, save, "images")
    return g.to_json()


WORKFLOWS = {"digits_quickstart.json": digits_quickstart, "digits_optimal_steps.json": digits_optimal_steps,
             "digits_learned_solver.json": digits_learned_solver,
             "guidance_raag_few_steps.json": guidance_raag_few_steps,
             "guidance_smc_inspector.json": guidance_smc_inspector,
             "digits_reflow_one_step.json": digits_reflow_one_step, **DIGITS_EDIT_WORKFLOWS}
# Workflows that need downloaded checkpoints: workflows/real_models/, checked against /object_info but not run
REAL_MODEL_DIR = "real_models"


def main() -> None:
    out = ROOT / "workflows"
    out.mkdir(exist_ok=True)
    for name, build in WORKFLOWS.items():
        (out / name).write_text(json.dumps(build(), indent=1) + "\n")
        print(f"wrote workflows/{name}")
    (out / REAL_MODEL_DIR).mkdir(exist_ok=True)
    for name, build in REFLOW_WORKFLOWS.items():
        (out / REAL_MODEL_DIR / name).write_text(json.dumps(build(Graph), indent=1) + "\n")
        print(f"wrote workflows/{REAL_MODEL_DIR}/{name}")


if __name__ == "__main__":
    main()
