"""Widget settings of the guidance nodes as the frontend receives them: it shows a FLOAT rounded to its `step`
(ignoring `round`), so every default must lie on its step grid or users see another value than the one used."""
from rectiflow.testing.comfy_host import pack_module


def guidance_node_ids() -> list[str]:
    return [node.define_schema().node_id for node in pack_module("nodes.guidance").GUIDANCE_NODES]


def float_widgets(comfy, node_id: str) -> dict[str, dict]:
    """FLOAT inputs of a node as /object_info lists them: {name: options}."""
    inputs = comfy.NODE_CLASS_MAPPINGS[node_id].INPUT_TYPES()
    return {name: spec[1] for group in inputs.values() if isinstance(group, dict)
            for name, spec in group.items() if spec[0] == "FLOAT"}


def on_grid(value: float, step: float) -> bool:
    ratio = value / step
    return abs(ratio - round(ratio)) < 1e-9


def test_guidance_nodes_have_float_widgets(comfy):
    widgets = {node_id: float_widgets(comfy, node_id) for node_id in guidance_node_ids()}
    assert len(widgets) >= 13 and sum(len(w) for w in widgets.values()) >= 20
    limited = widgets["RectiFlowGuiderLimitedInterval"]
    assert limited["sigma_lo"]["default"] == 0.2188 and limited["sigma_hi"]["default"] == 0.8442


def test_float_defaults_lie_on_their_step_grid(comfy):
    off_grid = [f"{node_id}.{name}: default {options['default']} is not a multiple of step {options['step']}"
                for node_id in guidance_node_ids() for name, options in float_widgets(comfy, node_id).items()
                if not on_grid(options["default"], options["step"])]
    assert not off_grid, off_grid


def test_the_grid_check_rejects_the_old_sigma_step():
    assert not on_grid(0.2188, 0.01) and on_grid(0.2188, 0.0001)
