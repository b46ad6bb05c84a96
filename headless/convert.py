"""UI-format workflow (the editor's save file) -> API-format prompt, using the server's /object_info.

Mirrors the frontend's graphToPrompt for what a saved file can hold: widget values in input order with
'control after generate' entries skipped, links followed through Reroute, PrimitiveNode and bypassed
nodes, muted and frontend-only nodes dropped. A malformed file raises ConversionError naming the node
(id, index, type) or link at fault, never a bare KeyError.
"""
from __future__ import annotations

from typing import Any, Iterator, NamedTuple

from .errors import ConversionError, shown

MUTED, BYPASSED = 2, 4
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
CONTROL_VALUES = {"fixed", "randomize", "increment", "decrement"}
SEED_NAMES = {"seed", "noise_seed"}
FRONTEND_ONLY_TYPES = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
LINK_FIELDS = ("id", "origin_id", "origin_slot", "target_id", "target_slot")

__all__ = ["ConversionError", "MUTED", "BYPASSED", "ui_to_api", "is_api_format", "shown"]


class Link(NamedTuple):
    origin_id: str
    origin_slot: int
    target_id: str
    target_slot: int
    type: str


class PrimitiveValue(NamedTuple):
    """A value supplied by a frontend-only PrimitiveNode instead of a real link."""
    value: Any


Source = tuple[str, int] | PrimitiveValue | None


def _link_int(value: Any, field: str, where: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConversionError(f"{where}: {field} must be an integer, got {shown(value)}") from None


def parse_link(raw: Any, index: int) -> tuple[int, Link]:
    """One link, from the list form [id, from, slot, to, slot, type] or the object form."""
    where = f"link at index {index}"
    if isinstance(raw, dict):
        missing = [field for field in LINK_FIELDS if raw.get(field) is None]
        if missing:
            raise ConversionError(f"{where} (id {shown(raw.get('id'))}) is missing {', '.join(missing)}")
        fields = [raw[field] for field in LINK_FIELDS] + [raw.get("type", "*")]
    elif isinstance(raw, (list, tuple)):
        if len(raw) < 5:
            raise ConversionError(f"{where} {shown(raw)} has {len(raw)} fields, expected 6: "
                                  "[id, origin_id, origin_slot, target_id, target_slot, type]")
        fields = list(raw[:6]) if len(raw) >= 6 else list(raw[:5]) + ["*"]
    else:
        raise ConversionError(f"{where} is neither a list nor an object: {shown(raw)}")
    link_id, origin_id, origin_slot, target_id, target_slot, link_type = fields
    where = f"link {shown(link_id)} (index {index})"
    return _link_int(link_id, "id", where), Link(
        str(origin_id), _link_int(origin_slot, "origin_slot", where), str(target_id),
        _link_int(target_slot, "target_slot", where), link_type)


def parse_links(workflow: dict) -> dict[int, Link]:
    """Links by id; both the list form and the object form."""
    raw_links = workflow.get("links") or []
    if not isinstance(raw_links, list):
        raise ConversionError(f"'links' must be a list, got {type(raw_links).__name__}")
    return dict(parse_link(raw, index) for index, raw in enumerate(raw_links))


def _node_key(node: Any, index: int) -> str:
    """The node's id as a string, after checking the fields conversion relies on."""
    if not isinstance(node, dict):
        raise ConversionError(f"node at index {index} is not an object: {shown(node)}")
    node_type = node.get("type")
    label = f"node at index {index} ({shown(node_type)})"
    node_id = node.get("id")
    if node_id is None:
        raise ConversionError(f"{label} has no 'id'")
    if isinstance(node_id, bool) or not isinstance(node_id, (int, str)):
        raise ConversionError(f"{label}: 'id' must be a number or a string, got {shown(node_id)}")
    if not isinstance(node_type, str) or not node_type:
        raise ConversionError(f"node {shown(node_id)} at index {index} has no 'type'")
    for field in ("inputs", "outputs"):
        entries = node.get(field) or []
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise ConversionError(f"node {shown(node_id)} ({shown(node_type)}): '{field}' must be a list of objects")
    if any(not isinstance(e.get("name"), str) for e in node.get("inputs") or []):
        raise ConversionError(f"node {shown(node_id)} ({shown(node_type)}): an input has no 'name'")
    return str(node_id)


class UIGraph:
    """The nodes and links of a UI-format workflow, with source resolution through frontend-only nodes."""

    def __init__(self, workflow: dict):
        if not isinstance(workflow.get("nodes"), list):
            raise ConversionError("not a UI-format workflow: no 'nodes' list")
        self.nodes: dict[str, dict] = {}
        for index, node in enumerate(workflow["nodes"]):
            key = _node_key(node, index)
            if key in self.nodes:
                raise ConversionError(f"node id {shown(key)} appears twice (second time at index {index})")
            self.nodes[key] = node
        self.links = parse_links(workflow)
        definitions = workflow.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
        self.subgraph_ids = {sg.get("id") for sg in subgraphs or [] if isinstance(sg, dict)}

    def resolve(self, link_id: int | None, seen: frozenset[int] = frozenset()) -> Source:
        """The real (node id, output slot) feeding a link, a PrimitiveNode literal, or None."""
        if link_id is None or int(link_id) in seen:
            return None
        link = self.links.get(int(link_id))
        node = self.nodes.get(link.origin_id) if link else None
        if node is None or node.get("mode", 0) == MUTED:
            return None
        seen = seen | {int(link_id)}
        if node["type"] == "Reroute":
            return self.resolve(_input_link(node, 0), seen)
        if node["type"] == "PrimitiveNode":
            values = node.get("widgets_values") or []
            return PrimitiveValue(values[0]) if values else None
        if node.get("mode", 0) == BYPASSED:
            return self.resolve(_input_link(node, _bypass_input_index(node, link)), seen)
        return link.origin_id, link.origin_slot


def _input_link(node: dict, index: int | None) -> int | None:
    inputs = node.get("inputs") or []
    if index is None or not 0 <= index < len(inputs):
        return None
    return inputs[index].get("link")


def _types_match(a: Any, b: Any) -> bool:
    return a == b or "*" in (a, b)


def _bypass_input_index(node: dict, link: Link) -> int | None:
    """As the frontend does: a bypassed node passes on its input at the output's index if the type
    matches, else its first input of the output's type."""
    inputs = node.get("inputs") or []
    outputs = node.get("outputs") or []
    slot = link.origin_slot
    out_type = outputs[slot].get("type", link.type) if 0 <= slot < len(outputs) else link.type
    if 0 <= slot < len(inputs) and _types_match(inputs[slot].get("type"), out_type):
        return link.origin_slot
    for index, ui_input in enumerate(inputs):
        if _types_match(ui_input.get("type"), out_type):
            return index
    return None


def ordered_inputs(info: dict) -> Iterator[tuple[str, tuple]]:
    """(name, spec) of required then optional inputs, in input_order when the server gives one."""
    spec_input = info.get("input") or {}
    order = info.get("input_order") or {}
    for section in ("required", "optional"):
        specs = spec_input.get(section) or {}
        for name in order.get(section) or list(specs):
            if name in specs:
                yield name, specs[name]


def _spec_type_and_options(spec: Any) -> tuple[Any, dict]:
    spec = list(spec) if isinstance(spec, (list, tuple)) else [spec]
    options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    return spec[0], options


def widget_type(spec: Any) -> Any:
    """The widget kind of an input spec ("COMBO" for option lists; `widgetType` overrides)."""
    input_type, options = _spec_type_and_options(spec)
    input_type = options.get("widgetType") or input_type
    return "COMBO" if isinstance(input_type, list) else input_type


def is_widget_spec(spec: Any) -> bool:
    kind = widget_type(spec)
    return isinstance(kind, str) and kind in WIDGET_TYPES


def has_control_widget(name: str, spec: Any) -> bool:
    """Whether the frontend adds a 'control after generate' value right after this widget.

    Mirrors the frontend: INT uses `control_after_generate ?? name in (seed, noise_seed)`,
    COMBO only an explicit `control_after_generate`.
    """
    _, options = _spec_type_and_options(spec)
    kind = widget_type(spec)
    if kind == "INT":
        flag = options.get("control_after_generate")
        return bool(flag) if flag is not None else name in SEED_NAMES
    return kind == "COMBO" and bool(options.get("control_after_generate"))


def widget_slots(info: dict, node: dict) -> list[tuple[str, bool]]:
    """(input name, followed by a control value) for each widget occupying a place in widgets_values."""
    ui_inputs = {_ui_input_name(i): i for i in node.get("inputs") or []}
    slots = []
    for name, spec in ordered_inputs(info):
        if not is_widget_spec(spec):
            continue
        ui_input = ui_inputs.get(name)
        if ui_input is not None and "widget" not in ui_input:
            continue  # a plain socket (forceInput): no widget value stored
        if ui_input is None and _spec_type_and_options(spec)[1].get("forceInput"):
            continue
        slots.append((name, has_control_widget(name, spec)))
    return slots


def _ui_input_name(ui_input: dict) -> str:
    widget = ui_input.get("widget")
    return widget["name"] if isinstance(widget, dict) and "name" in widget else ui_input["name"]


def widget_values(info: dict, node: dict) -> dict[str, Any]:
    """The node's widget values by input name, skipping 'control after generate' entries."""
    values = node.get("widgets_values")
    slots = widget_slots(info, node)
    if isinstance(values, dict):
        return {name: values[name] for name, _ in slots if name in values}
    values = list(values or [])
    result: dict[str, Any] = {}
    position = 0
    for name, has_control in slots:
        if position >= len(values):
            break
        result[name] = values[position]
        position += 1
        if has_control and position < len(values) and _is_control_value(values[position]):
            position += 1
    return result


def _is_control_value(value: Any) -> bool:
    return isinstance(value, str) and value in CONTROL_VALUES


def convert_node(graph: UIGraph, node: dict, info: dict) -> dict:
    """One API-format node: widget values overlaid with resolved links."""
    inputs: dict[str, Any] = widget_values(info, node)
    for ui_input in node.get("inputs") or []:
        source = graph.resolve(ui_input.get("link"))
        name = _ui_input_name(ui_input)
        if isinstance(source, PrimitiveValue):
            inputs[name] = source.value
        elif source is not None:
            inputs[name] = [source[0], source[1]]
    title = node.get("title") or info.get("display_name") or node["type"]
    return {"inputs": inputs, "class_type": node["type"], "_meta": {"title": title}}


def _unknown_type_error(graph: UIGraph, node_id: str, node_type: str) -> ConversionError:
    hint = ""
    if node_type in graph.subgraph_ids:
        hint = " (it is a subgraph; unpack it in the editor first)"
    elif node_type.startswith("workflow>"):
        hint = " (it is a group node; convert it to nodes in the editor first)"
    return ConversionError(f"node {shown(node_id)} ({shown(node_type)}): node type is not known to the server"
                           f"{hint}; is the custom node pack that provides it installed?")


def _convert_checked(graph: UIGraph, node_id: str, node: dict, info: Any) -> dict:
    """convert_node, with any shape error in the node or its /object_info entry named."""
    label = f"node {shown(node_id)} ({shown(node['type'])})"
    if not isinstance(info, dict):
        raise ConversionError(f"{label}: the server's /object_info entry is not an object")
    try:
        return convert_node(graph, node, info)
    except ConversionError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ConversionError(f"{label}: malformed node or /object_info entry "
                              f"({type(exc).__name__}: {shown(str(exc))})") from None


def ui_to_api(workflow: dict, object_info: dict) -> dict:
    """Convert a UI-format workflow (editor save file) into an API-format prompt."""
    if not isinstance(object_info, dict):
        raise ConversionError("the server's /object_info is not an object")
    graph = UIGraph(workflow)
    api: dict[str, dict] = {}
    for node_id, node in graph.nodes.items():
        node_type = node["type"]
        if node.get("mode", 0) in (MUTED, BYPASSED):
            continue
        if node_type not in object_info:
            if node_type in FRONTEND_ONLY_TYPES:
                continue
            raise _unknown_type_error(graph, node_id, node_type)
        api[node_id] = _convert_checked(graph, node_id, node, object_info[node_type])
    return api


def is_api_format(workflow: dict) -> bool:
    return bool(workflow) and all(isinstance(v, dict) and "class_type" in v for v in workflow.values())
