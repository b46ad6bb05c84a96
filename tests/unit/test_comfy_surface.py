"""ComfyUI updates must not break RectiFlow unnoticed: the ComfyUI surface the pack uses, checked on the real host.

comfy_surface_table.SURFACE lists every ComfyUI symbol the pack uses (module paths, methods we call or override,
attributes and dict keys we rely on). The tests resolve each row in the installed ComfyUI, bind our calls with
inspect.signature, and scan the pack's source with `ast` so that a new ComfyUI dependency fails until it is listed.
Objects reached only through duck typing (a MODEL's methods, a guider's attributes) cannot be found by the module
scan; test_comfyui_class_members_we_touch_are_listed catches those by name.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from comfy_surface_table import CALLBACK_KEYS, SURFACE, Call, Symbol

REPO = Path(__file__).resolve().parents[2]
COMFY_TOP = {"comfy", "comfy_api", "comfy_extras", "comfy_execution", "folder_paths", "node_helpers",
             "latent_preview", "nodes", "server", "execution"}
SKIP_DIRS = {"tests", "bench", "scripts", "docs", "build", "dist", "node_modules", "__pycache__"}
TABLE_PATHS = {s.path for s in SURFACE}
P = inspect.Parameter


# ------------------------------------------------------------------------------------------ resolving ComfyUI

def resolve(path: str):
    """The object at a dotted path: the longest importable module prefix, then attributes."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(path)


def owner_and_name(path: str):
    head, _, name = path.rpartition(".")
    return resolve(head), name


def callable_signature(path: str) -> tuple[inspect.Signature, bool]:
    """Signature of what `path` names when called, and whether a self placeholder must be passed first."""
    owner, name = owner_and_name(path)
    if inspect.isclass(owner) and not inspect.ismodule(owner):
        raw = inspect.getattr_static(owner, name)
        if isinstance(raw, (classmethod, staticmethod)):
            return inspect.signature(getattr(owner, name)), False
        if inspect.isfunction(raw):
            return inspect.signature(raw), True
    return inspect.signature(getattr(owner, name)), False


def bind_call(path: str, call: Call, partial: bool = False) -> None:
    sig, needs_self = callable_signature(path)
    args = [object()] * (call.positional + needs_self)
    (sig.bind_partial if partial else sig.bind)(*args, **{k: object() for k in call.keywords})


def source_tree(obj) -> ast.AST:
    return ast.parse(textwrap.dedent(inspect.getsource(obj)))


def self_assigned(cls, name: str) -> bool:
    """Whether `self.<name> = ...` appears in the class or one of its ComfyUI bases."""
    for klass in cls.__mro__[:-1]:
        try:
            tree = source_tree(klass)
        except (OSError, TypeError):
            continue
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and node.attr == name
                    and isinstance(node.value, ast.Name) and node.value.id == "self"):
                return True
    return False


def names_in(obj) -> set[str]:
    """String constants and attribute names in a function's source (keys of a dict)."""
    if isinstance(obj, dict):
        return set(obj)
    tree = source_tree(obj)
    return ({n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
            | {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)})


def reads_of(obj, var: str) -> set[str]:
    """Attributes, string subscripts and .get() keys that a function reads from the variable `var`."""
    out = set()
    for node in ast.walk(source_tree(obj)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and ast.unparse(node.func.value) == var and node.args and isinstance(node.args[0], ast.Constant):
            out.add(node.args[0].value)
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == var \
                and isinstance(node.slice, ast.Constant):
            out.add(node.slice.value)
        elif isinstance(node, ast.Attribute) and ast.unparse(node.value) == var and node.attr != "get":
            out.add(node.attr)
    return out


def calls_to(obj, callee: str) -> list[Call]:
    return [Call(sum(not isinstance(a, ast.Starred) for a in n.args), tuple(k.arg for k in n.keywords if k.arg))
            for n in ast.walk(source_tree(obj)) if isinstance(n, ast.Call) and ast.unparse(n.func) == callee]


def signature_of(text: str) -> inspect.Signature:
    namespace: dict = {}
    exec(f"def f{text}: pass", namespace)  # noqa: S102 (a signature literal from the table)
    return inspect.signature(namespace["f"])


def assert_override_binds(theirs: inspect.Signature, ours: inspect.Signature) -> None:
    """Our override accepts whatever ComfyUI's method accepts, passed by position or by name."""
    params = list(theirs.parameters.values())
    positional = [p.name for p in params if p.kind in (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD)]
    keyword_only = {p.name: p.name for p in params if p.kind == P.KEYWORD_ONLY}
    ours.bind(*positional, **keyword_only)
    ours.bind(*positional[:1], **{n: n for n in positional[1:]}, **keyword_only)


def check_symbol(symbol: Symbol) -> None:
    obj = resolve(symbol.path) if symbol.kind != "instance_attribute" else None
    if symbol.kind == "module":
        assert inspect.ismodule(obj)
    elif symbol.kind == "class":
        assert inspect.isclass(obj)
    elif symbol.kind in ("function", "method"):
        assert callable(obj)
    elif symbol.kind == "instance_attribute":
        owner, name = owner_and_name(symbol.path)
        assert self_assigned(owner, name), f"no self.{name} = ... in {owner.__qualname__} or its bases"
    elif symbol.kind == "keys":
        assert set(symbol.names) <= names_in(obj), sorted(set(symbol.names) - names_in(obj))
    elif symbol.kind == "reads":
        assert reads_of(obj, symbol.var), f"{symbol.path} no longer reads {symbol.var}: is the row stale?"
        extra = reads_of(obj, symbol.var) - set(symbol.names)
        assert not extra, f"ComfyUI now reads {sorted(extra)} from {symbol.var}; we provide {symbol.names}"
    elif symbol.kind == "calls_us":
        calls = calls_to(obj, symbol.var)
        assert calls, f"{symbol.path} no longer calls {symbol.var}"
        for call in calls:
            signature_of(symbol.implements).bind(*[object()] * call.positional, **dict.fromkeys(call.keywords))
    else:
        assert symbol.kind == "attribute", f"unknown kind {symbol.kind!r}"
    for call in symbol.calls:
        bind_call(symbol.path, call)
    if symbol.implements is not None and symbol.kind == "method":
        owner, name = owner_and_name(symbol.path)
        raw = inspect.getattr_static(owner, name)
        assert_override_binds(inspect.signature(getattr(raw, "__func__", raw)), signature_of(symbol.implements))


@pytest.mark.parametrize("symbol", SURFACE, ids=[f"{i}-{s.kind}-{s.path}" for i, s in enumerate(SURFACE)])
def test_symbol_exists_and_our_use_binds(comfy, symbol):
    check_symbol(symbol)


# ------------------------------------------------------------------------------------------ scanning the pack

@dataclass
class Scan:
    files: list[Path] = field(default_factory=list)
    uses: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))          # path -> files
    calls: list[tuple[str, Call, bool, str]] = field(default_factory=list)               # path, call, starred, file
    overrides: dict[str, list[tuple[str, ast.FunctionDef]]] = field(default_factory=lambda: defaultdict(list))  # base.member


def pack_files() -> list[Path]:
    """nodes/**, the top-level __init__.py, and any other pack module that imports ComfyUI (renames included)."""
    out = []
    for path in sorted(REPO.rglob("*.py")):
        rel = path.relative_to(REPO).parts
        if any(p.startswith(".") or p in SKIP_DIRS for p in rel[:-1]):
            continue
        if rel[0] == "nodes" or rel == ("__init__.py",) or comfy_aliases(ast.parse(path.read_text()))[1]:
            out.append(path)
    return out


def comfy_aliases(tree: ast.AST) -> tuple[dict[str, str], set[str]]:
    """Local name -> ComfyUI dotted path, and the imported paths themselves."""
    aliases, imported = {}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in COMFY_TOP:
                    imported.add(a.name)
                    aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] in COMFY_TOP:
            for a in node.names:
                imported.add(f"{node.module}.{a.name}")
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return aliases, imported


def dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in aliases and not isinstance(node.ctx, ast.Store):
        return ".".join([aliases[node.id], *reversed(parts)])
    return None


def scan_file(path: Path, scan: Scan) -> None:
    tree = ast.parse(path.read_text())
    where = str(path.relative_to(REPO))
    aliases, imported = comfy_aliases(tree)
    for name in imported:
        scan.uses[name].add(where)
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)) and id(node) not in inner and (p := dotted(node, aliases)):
            scan.uses[p].add(where)
        if isinstance(node, ast.Call) and (p := dotted(node.func, aliases)):
            starred = any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords)
            scan.calls.append((p, Call(sum(not isinstance(a, ast.Starred) for a in node.args),
                                       tuple(k.arg for k in node.keywords if k.arg)), starred, where))
        if isinstance(node, ast.ClassDef):
            bases = [p for b in node.bases if (p := dotted(b, aliases))]
            if bases:
                scan_subclass(node, bases, where, scan)


def scan_subclass(cls: ast.ClassDef, bases: list[str], where: str, scan: Scan) -> None:
    """Members a pack class overrides, and base members it reaches through self / cls / super()."""
    own = {n.name for n in cls.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    own |= {t.id for n in cls.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    stored = {n.attr for n in ast.walk(cls) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)}
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scan.overrides[f"{bases[0]}.{node.name}"].append((f"{where}:{cls.name}", node))
    for name in own:
        scan.uses[f"{bases[0]}.{name}?"].add(f"{where}:{cls.name}")
    for node in ast.walk(cls):
        if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load):
            continue
        via_super = isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == "super"
        via_self = isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")
        if via_super or (via_self and node.attr not in own and node.attr not in stored):
            scan.uses[f"{bases[0]}.{node.attr}"].add(f"{where}:{cls.name}")


@pytest.fixture(scope="module")
def scan() -> Scan:
    result = Scan(files=pack_files())
    for path in result.files:
        scan_file(path, result)
    return result


def needed_paths(scan: Scan) -> dict[str, set[str]]:
    """Scanned uses; a member `base.name?` a pack class defines counts only where the ComfyUI base has it."""
    out = {}
    for path, files in scan.uses.items():
        if path.endswith("?"):
            path = path[:-1]
            owner, name = owner_and_name(path)
            if not (hasattr(owner, name) or self_assigned(owner, name)):
                continue
        out[path] = files
    return out


def test_scan_covers_the_pack(scan):
    names = {str(p.relative_to(REPO)) for p in scan.files}
    assert "__init__.py" in names and any(n.startswith("nodes/") for n in names)
    assert len(scan.uses) > 20 and scan.calls, "the scan found (almost) no ComfyUI use: is it broken?"


def test_every_comfyui_symbol_the_pack_uses_is_in_the_table(comfy, scan):
    missing = {path: sorted(files) for path, files in needed_paths(scan).items() if path not in TABLE_PATHS}
    assert not missing, f"add these to tests/unit/comfy_surface_table.py: {missing}"


def test_every_comfyui_call_in_the_pack_binds(comfy, scan):
    failures = []
    for path, call, starred, where in scan.calls:
        try:
            bind_call(path, call, partial=starred)
        except TypeError as e:
            failures.append(f"{where}: {path}{call}: {e}")
    assert not failures, failures


def ast_params(fn: ast.FunctionDef) -> list[tuple[str, str]]:
    a = fn.args
    out = [(x.arg, "positional") for x in a.posonlyargs + a.args]
    out += [(a.vararg.arg, "*")] if a.vararg else []
    out += [(x.arg, "keyword") for x in a.kwonlyargs]
    return out + ([(a.kwarg.arg, "**")] if a.kwarg else [])


def sig_params(sig: inspect.Signature) -> list[tuple[str, str]]:
    kinds = {P.POSITIONAL_ONLY: "positional", P.POSITIONAL_OR_KEYWORD: "positional", P.VAR_POSITIONAL: "*",
             P.KEYWORD_ONLY: "keyword", P.VAR_KEYWORD: "**"}
    return [(p.name, kinds[p.kind]) for p in sig.parameters.values()]


# Overrides whose signature is ours to choose: ComfyUI never calls our constructors, and each node's execute takes
# its own inputs (the V3 API calls it by keyword from the schema).
FREE_SIGNATURES = {"comfy.samplers.CFGGuider.__init__", "comfy_api.latest.io.ComfyNode.execute"}


def test_our_overrides_match_the_table(comfy, scan):
    """Every ComfyUI method a pack class overrides has a method row whose `implements` is the pack's signature."""
    methods = {s.path: s for s in SURFACE if s.kind == "method"}
    checked = 0
    for path, defs in scan.overrides.items():
        if path not in needed_paths(scan):
            continue                                   # a method of our own, not on the ComfyUI base
        row = methods.get(path)
        assert row is not None, f"{[w for w, _ in defs]} override {path}: add a 'method' row with `implements`"
        if path in FREE_SIGNATURES:
            continue
        assert row.implements is not None, f"{path}: the row needs `implements` (our override's signature)"
        for where, fn in defs:
            assert ast_params(fn) == sig_params(signature_of(row.implements)), f"{where}.{fn.name} vs {row.implements}"
            checked += 1
    assert checked >= 4, "no override was matched against the table: is the scan broken?"


# ------------------------------------------------------------------------------------------ duck-typed uses

DUCK_TYPED = ["comfy.model_patcher.ModelPatcher", "comfy.samplers.CFGGuider", "comfy.samplers.KSAMPLER",
              "comfy.model_sampling.CONST", "comfy.model_sampling.ModelSamplingDiscreteFlow",
              "comfy.model_base.BaseModel", "comfy.patcher_extension.WrapperExecutor", "comfy.utils.ProgressBar",
              "comfy_api.latest.io.NodeOutput", "comfy.supported_models_base.BASE", "comfy.latent_formats.LatentFormat"]
# Attribute names the pack uses on its own objects that happen to match a ComfyUI member name
# (GuidanceStep.sigma, InvertedNoise.sigma vs ModelSamplingDiscreteFlow.sigma; pathlib's Path.parent vs
# ModelPatcher.parent).
OWN_NAMES = {"sigma", "parent"}


def test_comfyui_class_members_we_touch_are_listed(comfy, scan):
    """A `.name` in the pack that is a member of a ComfyUI class we are handed must be listed under some class."""
    import torch

    generic = set(dir(torch.nn.Module)) | set(dir(torch.Tensor)) | set(dir(dict)) | set(dir(list)) | set(dir(object))
    members = set()
    for path in DUCK_TYPED:
        cls = resolve(path)
        members |= {n for n in dir(cls) if not n.startswith("__")} | {
            n.attr for klass in cls.__mro__[:-1] if klass.__module__.split(".")[0] in COMFY_TOP
            for n in ast.walk(source_tree(klass)) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
            and isinstance(n.value, ast.Name) and n.value.id == "self"}
    used = {n.attr for p in scan.files for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.Attribute)}
    listed = {path.rsplit(".", 1)[-1] for path in TABLE_PATHS}
    unlisted = sorted((used & members) - generic - listed - OWN_NAMES)
    assert not unlisted, f"list these ComfyUI members in tests/unit/comfy_surface_table.py: {unlisted}"


def test_our_solvers_hand_comfyui_callbacks_every_key_it_reads():
    """KSAMPLER's callback reads x/i/denoised (0.3.75) and also sigma/sigma_hat (0.38); samplers/ provides them."""
    import torch
    from rectiflow.samplers.solvers import sample_flow_euler

    seen = []
    sample_flow_euler(lambda x, s, **kw: torch.zeros_like(x), torch.ones(1, 2), torch.tensor([1.0, 0.5, 0.0]),
                      callback=seen.append)
    assert seen and all(set(info) == set(CALLBACK_KEYS) for info in seen)
