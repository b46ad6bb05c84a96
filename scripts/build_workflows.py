"""Write the example workflows in workflows/ (ComfyUI UI format, the files people drag into the editor).

    python scripts/build_workflows.py

Each workflow is declared once here as a small graph; links carry the socket type so the file loads in the
editor without a server round trip.
"""
from __future__ import annotations

import json
from pathlib import Path

from reflow_family_workflows import FAMILY_WORKFLOWS  # scripts/ is on the path when this file runs
from reflow_workflows import REFLOW_WORKFLOWS as INSTAFLOW_WORKFLOWS

REFLOW_WORKFLOWS = {**INSTAFLOW_WORKFLOWS, **FAMILY_WORKFLOWS}

ROOT = Path(__file__).resolve().parents[1]


# Layout on the editor's canvas (LiteGraph units = screen pixels at zoom 1). Heights are generous enough for both
# the classic canvas renderer and the "Nodes 2.0" (Vue) renderer, whose widget rows are taller.
TITLE_HEIGHT = 30  # the title bar is drawn above a node's pos
SLOT_HEIGHT = 24  # one input/output row
WIDGET_HEIGHT = 32  # one widget row (a seed's "control after generate" is its own row)
NODE_PADDING = 16
NODE_WIDTH = 340
TITLE_CHAR_WIDTH = 8  # a long title widens its node
PREVIEW_HEIGHT = {"SaveImage": 280, "PreviewImage": 280, "PreviewAny": 140,  # room for what a run shows
                  "Note": 300}  # room for a note's text
COLUMN_GAP = 80
ROW_GAP = 40
# Canvas pixels from the window's top-left corner to the graph's top-left title corner when the file opens: the
# editor draws its top bar (tabs, menu, breadcrumb; about 130 px) and sidebar (about 60 px) over the canvas.
VIEW_OFFSET = (120, 180)


class Graph:
    """Minimal builder for ComfyUI's UI workflow format (version 0.4) with an automatic layered layout."""

    def __init__(self):
        self.nodes: list[dict] = []
        self.links: list[list] = []

    def node(self, node_type: str, widgets: list | None = None, outputs: list[tuple[str, str]] = (),
             inputs: list[tuple[str, str]] = (), pos=(0, 0), title: str | None = None) -> dict:
        """Add a node. `pos` is only a hint: `to_json` puts each node in the column of its graph depth and uses
        pos (y, then x) to order the nodes inside a column."""
        node = {
            "id": len(self.nodes) + 1, "type": node_type, "pos": list(pos), "size": [NODE_WIDTH, 120],
            "flags": {}, "order": len(self.nodes), "mode": 0,
            "inputs": [{"name": n, "type": t, "link": None} for n, t in inputs],
            "outputs": [{"name": n, "type": t, "links": [], "slot_index": i} for i, (n, t) in enumerate(outputs)],
            "properties": {"Node name for S&R": node_type},
            "widgets_values": list(widgets or []),
        }
        if title:
            node["title"] = title
        self.nodes.append(node)
        return node

    def link(self, src: dict, out_slot: int, dst: dict, input_name: str) -> None:
        link_id = len(self.links) + 1
        slot = next(i for i, inp in enumerate(dst["inputs"]) if inp["name"] == input_name)
        link_type = src["outputs"][out_slot]["type"]
        self.links.append([link_id, src["id"], out_slot, dst["id"], slot, link_type])
        src["outputs"][out_slot]["links"].append(link_id)
        dst["inputs"][slot]["link"] = link_id

    def columns(self) -> dict[int, int]:
        """Node id -> column: the longest path from a source, then each source moved next to its first consumer."""
        sources = {n["id"]: [] for n in self.nodes}
        consumers = {n["id"]: [] for n in self.nodes}
        for _, src, _, dst, _, _ in self.links:
            sources[dst].append(src)
            consumers[src].append(dst)
        column: dict[int, int] = {}

        def depth(node_id: int) -> int:
            if node_id not in column:
                column[node_id] = 1 + max((depth(s) for s in sources[node_id]), default=-1)
            return column[node_id]

        for node_id in sources:
            depth(node_id)
        for node_id, feeds in consumers.items():
            if not sources[node_id] and feeds:
                column[node_id] = min(column[c] for c in feeds) - 1
        return column

    @staticmethod
    def node_size(node: dict) -> list[int]:
        """Width and body height (title bar excluded) that fit the node's title, slots, widgets and previews."""
        title = node.get("title", node["type"])
        width = max(NODE_WIDTH, TITLE_CHAR_WIDTH * len(title) + 60)
        rows = max(len(node["inputs"]), len(node["outputs"]))
        height = (NODE_PADDING + rows * SLOT_HEIGHT + len(node["widgets_values"]) * WIDGET_HEIGHT
                  + PREVIEW_HEIGHT.get(node["type"], 0))
        return [width, height]

    def lay_out(self) -> None:
        """Columns by graph depth, left to right; each column's nodes stacked top-down with their real heights."""
        column = self.columns()
        by_column: dict[int, list[dict]] = {}
        for node in self.nodes:
            node["size"] = self.node_size(node)
            by_column.setdefault(column[node["id"]], []).append(node)
        x = 0
        for index in sorted(by_column):
            stack = sorted(by_column[index], key=lambda n: (n["pos"][1], n["pos"][0], n["id"]))
            y = TITLE_HEIGHT
            for node in stack:
                node["pos"] = [x, y]
                y += node["size"][1] + TITLE_HEIGHT + ROW_GAP
            x += max(n["size"][0] for n in stack) + COLUMN_GAP

    def to_json(self) -> dict:
        self.lay_out()
        return {"last_node_id": len(self.nodes), "last_link_id": len(self.links), "nodes": self.nodes,
                "links": self.links, "groups": [], "config": {},
                "extra": {"ds": {"scale": 1, "offset": list(VIEW_OFFSET)}}, "version": 0.4}


def digits_inputs(g: Graph, batch: int) -> tuple[dict, dict, dict, dict]:
    """Digits model, one label per column, null negative and an empty latent (every workflow's inputs)."""
    loader = g.node("RectiFlowDigitsModelLoader", ["digits_rf.safetensors"], [("MODEL", "MODEL")], pos=(0, 0))
    pos = g.node("RectiFlowDigitsLabel", ["0 1 2 3 4 5 6 7 8 9"], [("CONDITIONING", "CONDITIONING")],
                 pos=(0, 180), title="Positive: one label per column")
    neg = g.node("RectiFlowDigitsLabel", ["null"], [("CONDITIONING", "CONDITIONING")], pos=(0, 330),
                 title="Negative: null label")
    latent = g.node("RectiFlowDigitsEmptyLatent", [batch], [("LATENT", "LATENT")], pos=(0, 480))
    return loader, pos, neg, latent


def decode_and_save(g: Graph, samples: dict, prefix: str) -> None:
    """Digits latent (output 0 of `samples`) -> 4 x 10 image grid -> SaveImage(prefix)."""
    image = g.node("RectiFlowDigitsLatentToImage", [4, 10], [("IMAGE", "IMAGE")], [("samples", "LATENT")],
                   pos=(1080, 0))
    save = g.node("SaveImage", [prefix], [], [("images", "IMAGE")], pos=(1080, 200))
    g.link(samples, 0, image, "samples")
    g.link(image, 0, save, "images")


def sample_and_save(g: Graph, noise: dict, guider: dict, sampler: dict, sigmas: dict, latent: dict,
                    prefix: str) -> None:
    """SamplerCustomAdvanced on the given sources, then `decode_and_save`."""
    run = g.node("SamplerCustomAdvanced", [], [("output", "LATENT"), ("denoised_output", "LATENT")],
                 [("noise", "NOISE"), ("guider", "GUIDER"), ("sampler", "SAMPLER"), ("sigmas", "SIGMAS"),
                  ("latent_image", "LATENT")], pos=(720, 0))
    for src, name in ((noise, "noise"), (guider, "guider"), (sampler, "sampler"), (sigmas, "sigmas"),
                      (latent, "latent_image")):
        g.link(src, 0, run, name)
    decode_and_save(g, run, prefix)


def link_cfg_inputs(g: Graph, loader: dict, pos: dict, neg: dict, guider: dict) -> None:
    g.link(loader, 0, guider, "model")
    g.link(pos, 0, guider, "positive")
    g.link(neg, 0, guider, "negative")


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


def digits_edit(sampler_type: str, widgets: list, title: str, prefix: str) -> dict:
    """"Turn this 3 into an 8": ten 3s generated at 32 Euler steps, then edited toward label 8 by an edit SAMPLER
    with the RectiFlow Edit Guider (source 3, target 8) in SamplerCustomAdvanced, 28 steps; saved as two rows."""
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
    guider = g.node("RectiFlowEditGuider", [1.5, 3.0], [("GUIDER", "GUIDER")],
                    [("model", "MODEL"), ("source", "CONDITIONING"), ("target", "CONDITIONING"),
                     ("negative", "CONDITIONING")], pos=(720, 200), title="Edit Guider (digits: cfg 1.5 / 3)")
    for src, name in ((loader, "model"), (source, "source"), (target, "target"), (neg, "negative")):
        g.link(src, 0, guider, name)
    sampler = g.node(sampler_type, widgets, [("SAMPLER", "SAMPLER")], pos=(720, 400), title=title)
    edit_steps = g.node("BasicScheduler", ["simple", 28, 1.0], [("SIGMAS", "SIGMAS")], [("model", "MODEL")],
                        pos=(720, 600), title="28 steps")
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


WORKFLOWS = {"digits_quickstart.json": digits_quickstart, "digits_optimal_steps.json": digits_optimal_steps,
             "digits_learned_solver.json": digits_learned_solver,
             "guidance_raag_few_steps.json": guidance_raag_few_steps,
             "guidance_smc_inspector.json": guidance_smc_inspector,
             "digits_reflow_one_step.json": digits_reflow_one_step,
             "digits_flowedit.json": digits_flowedit, "digits_rf_inversion.json": digits_rf_inversion}
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
