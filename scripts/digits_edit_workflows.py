"""Digits editing examples ("turn these 3s into 8s"), one per edit sampler, written by scripts/build_workflows.py
into workflows/ and run headless by the server tests."""
from __future__ import annotations

# scripts/ is on the path when this file runs
from workflow_graph import Graph, decode_and_save, digits_inputs, link_cfg_inputs


def digits_edit(sampler_type: str, widgets: list, title: str, prefix: str, *, steps: int = 28,
                cfgs: tuple[float, float] = (1.5, 3.0), with_sampler=None) -> dict:
    """"Turn this 3 into an 8": ten 3s generated at 32 Euler steps, then edited toward label 8 by an edit SAMPLER
    with the RectiFlow Edit Guider (source 3, target 8) in SamplerCustomAdvanced, `steps` steps; saved as two rows.
    `with_sampler(g, sampler)` adds nodes feeding the sampler's optional inputs (e.g. a MASK)."""
    g = Graph()
    loader, target, neg, latent = digits_inputs(g, 10)
    target["widgets_values"], target["title"] = ["8"], "Target: label 8"
    source = g.node("RectiFlowDigitsLabel", ["3"], [("CONDITIONING", "CONDITIONING")], pos=(0, 180),
                    title="Source: label 3")
    generator = g.node("CFGGuider", [3.0], [("GUIDER", "GUIDER")],
                       [("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING")], pos=(360, 0),
                       title="Generate the source 3s")
    noise = g.node("RandomNoise", [2026, "fixed"], [("NOISE", "NOISE")], pos=(360, 160))
    euler = g.node("RectiFlowSamplerEuler", [], [("SAMPLER", "SAMPLER")], pos=(360, 300))
    gen_steps = g.node("BasicScheduler", ["simple", 32, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                       pos=(360, 400), title="32 steps")
    link_cfg_inputs(g, loader, source, neg, generator)
    g.link(loader, 0, gen_steps, "model")
    generate = g.node("SamplerCustomAdvanced", [], [("output", "LATENT"), ("denoised_output", "LATENT")],
                      [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                       ("latent_image", "LATENT")], pos=(720, 0), title="Source 3s")
    for src, name in ((noise, "noise"), (generator, "guider"), (euler, "sampler"), (gen_steps, "sigmas"),
                      (latent, "latent_image")):
        g.link(src, 0, generate, name)
    guider = g.node("RectiFlowEditGuider", list(cfgs), [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("source", "CONDITIONING"), ("target", "CONDITIONING"),
                     ("negative", "CONDITIONING")], pos=(720, 200),
                    title=f"Edit Guider (digits: cfg {cfgs[0]:g} / {cfgs[1]:g})")
    for src, name in ((loader, "model"), (source, "source"), (target, "target"), (neg, "negative")):
        g.link(src, 0, guider, name)
    sampler = g.node(sampler_type, widgets, [("SAMPLER", "SAMPLER")], pos=(720, 400), title=title)
    if with_sampler is not None:
        with_sampler(g, sampler)
    edit_steps = g.node("BasicScheduler", ["simple", steps, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                        pos=(720, 600), title=f"{steps} steps")
    g.link(loader, 0, edit_steps, "model")
    edit = g.node("SamplerCustomAdvanced", [], [("output", "LATENT"), ("denoised_output", "LATENT")],
                  [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                   ("latent_image", "LATENT")], pos=(1080, 0), title="Edited toward 8")
    for src, name in ((noise, "noise"), (guider, "guider"), (sampler, "sampler"), (edit_steps, "sigmas"),
                      (generate, "latent_image")):
        g.link(src, 0, edit, name)
    both = g.node("LatentBatch", [], [("LATENT", "LATENT")], [("samples1", "LATENT"), ("samples2", "LATENT")],
                  pos=(1080, 300), title="Top row: source 3s; bottom row: edited")
    g.link(generate, 0, both, "samples1")
    g.link(edit, 0, both, "samples2")
    decode_and_save(g, both, prefix)
    return g.to_json()


def digits_flowedit() -> dict:
    return digits_edit("RectiFlowSamplerFlowEdit", [16, 0, 1, 0, "fixed"],
                       "FlowEdit (digits: n_max 16 of 28; SD3 33 of 50)", "rectiflow_flowedit_3_to_8")


def digits_rf_inversion() -> dict:
    return digits_edit("RectiFlowSamplerRFInversion", [0.5, 0.9, 0, 7],
                       "RF-Inversion (gamma 0.5, eta 0.9, stop 7 of 28)", "rectiflow_rf_inversion_3_to_8")


def digits_uniedit() -> dict:
    return digits_edit("RectiFlowSamplerUniEdit", [5.0, 0.6, "signed", 1], "UniEdit-Flow (omega 5, alpha 0.6: 9 of 15)",
                       "rectiflow_uniedit_3_to_8", cfgs=(1.0, 1.0), steps=15)


def digits_dnaedit() -> dict:
    return digits_edit("RectiFlowSamplerDNAEdit", [13, 0.8], "DNAEdit (start 13 of 40, mvg 0.8)",
                       "rectiflow_dnaedit_3_to_8", cfgs=(1.0, 3.5), steps=40)


def digits_flowopt() -> dict:
    return digits_edit("RectiFlowSamplerFlowOpt", [12, 8, 0.01],
                       "FlowOpt (official SD3: n_max 12 of 15, 8 iterations, eta 0.01)", "rectiflow_flowopt_3_to_8",
                       steps=15, cfgs=(1.0, 3.5))


def left_half_mask(g: Graph, sampler: dict) -> None:
    """A 16 x 16 MASK, white on the left half: FlowChef regenerates it and keeps the right half."""
    blank = g.node("SolidMask", [0.0, 16, 16], [("MASK", "MASK")], pos=(360, 560), title="Mask: 16 x 16, black")
    half = g.node("SolidMask", [1.0, 8, 16], [("MASK", "MASK")], pos=(360, 700), title="White: 8 x 16")
    mask = g.node("MaskComposite", [0, 0, "add"], [("MASK", "MASK")], [("destination", "MASK"), ("source", "MASK")],
                  pos=(360, 840), title="Left half free to change")
    g.link(blank, 0, mask, "destination")
    g.link(half, 0, mask, "source")
    sampler["inputs"].append({"name": "mask", "type": "MASK", "link": None})
    g.link(mask, 0, sampler, "mask")


def digits_flowchef() -> dict:
    return digits_edit("RectiFlowSamplerFlowChef", ["inpaint", 0.08, 1, 1000, 0, 0.0, 1.0],
                       "FlowChef inpaint (RF++ step 0.08): the left half becomes an 8", "rectiflow_flowchef_3_to_8",
                       with_sampler=left_half_mask)


def digits_rf_solver_edit() -> dict:
    return digits_edit("RectiFlowSamplerRFSolverEdit", ["rf_solver", 0, "late"],
                       "RF-Solver Edit (inject 0: the digits UNet has no Flux/SD3 attention)",
                       "rectiflow_rf_solver_edit_3_to_8")


DIGITS_EDIT_WORKFLOWS = {"digits_flowedit.json": digits_flowedit, "digits_rf_inversion.json": digits_rf_inversion,
                         "digits_uniedit.json": digits_uniedit, "digits_dnaedit.json": digits_dnaedit,
                         "digits_flowopt.json": digits_flowopt, "digits_flowchef.json": digits_flowchef,
                         "digits_rf_solver_edit.json": digits_rf_solver_edit}
