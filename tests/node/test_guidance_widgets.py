"""Widget settings of the guidance nodes as the frontend receives them: it shows a FLOAT rounded to its `step`
(ignoring `round`), so every default must lie on its step grid or users see another value than the one used."""
from rectiflow.testing.comfy_host import on_step_grid, pack_module, rectiflow_widgets


def guidance_node_ids() -> list[str]:
    return [node.define_schema().node_id for node in pack_module("nodes.guidance").GUIDANCE_NODES]


def float_widgets(node_id: str) -> dict[str, dict]:
    """FLOAT inputs of a node as /object_info lists them: {name: options}."""
    return {name: options for node, name, options in rectiflow_widgets(("FLOAT",)) if node == node_id}


def test_guidance_nodes_have_float_widgets(comfy):
    widgets = {node_id: float_widgets(node_id) for node_id in guidance_node_ids()}
    assert len(widgets) >= 13 and sum(len(w) for w in widgets.values()) >= 20
    limited = widgets["RectiFlowGuiderLimitedInterval"]
    assert limited["sigma_lo"]["default"] == 0.2188 and limited["sigma_hi"]["default"] == 0.8442


def test_the_grid_check_rejects_the_old_sigma_step():
    assert not on_step_grid(0.2188, 0.01) and on_step_grid(0.2188, 0.0001)
