"""The graph builder behind scripts/build_workflows.py: LiteGraph nodes and links in the editor's UI format, laid out
in columns, and the digits inputs and outputs every example shares."""
from __future__ import annotations

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
