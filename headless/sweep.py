"""The jobs of a batch: one API prompt with per-job overrides of node inputs.

A sweep is `NODE:INPUT=VALUES` (NODE a node id or title, VALUES `A..B` for the integers A to B inclusive,
`A..B:STEP`, or a comma list `a,b,c`); several sweeps give every combination. An overrides file is CSV (a
header row of `NODE:INPUT` columns) or JSONL (one object a line, `{"NODE:INPUT": value}`). Every reference is
checked against the prompt before anything runs; errors are one line naming the sweep, node or input.
"""
from __future__ import annotations

import copy
import csv
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from .errors import UsageError, shown

MAX_JOBS = 10_000_000
RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)(?::(\d+))?$")

def q(value: Any, limit: int = 120) -> str:
    """A user-given value quoted for a message, ascii()-safe."""
    text = ascii(str(value))
    return text if len(text) <= limit else text[:limit] + "..."


Target = tuple[str, str]          # (node id in the API prompt, input name)


@dataclass(frozen=True)
class Job:
    """One job: its index in the batch (its folder name) and the input values it overrides."""
    index: int
    overrides: dict[str, Any]     # "NODE_ID:INPUT" -> value

    @property
    def key(self) -> str:
        """What identifies the job in the manifest (its overrides, canonical JSON)."""
        return json.dumps(self.overrides, sort_keys=True, ensure_ascii=True)

    @property
    def name(self) -> str:
        return f"{self.index:05d}"


def resolve_node(prompt: dict, ref: str, where: str) -> str:
    """The API node id a reference names: a node id, else the one node with that title."""
    if ref in prompt:
        return ref
    titled = [node_id for node_id, node in prompt.items()
              if isinstance(node, dict) and (node.get("_meta") or {}).get("title") == ref]
    if len(titled) == 1:
        return titled[0]
    if titled:
        raise UsageError(f"{where}: several nodes have the title {q(ref)} ({', '.join(titled)}); use a node id")
    raise UsageError(f"{where}: no node with the id or title {q(ref)}")


def resolve_target(prompt: dict, column: str, where: str) -> Target:
    """`NODE:INPUT` as (node id, input name), checked against the prompt: the input must be a widget value."""
    node_ref, sep, name = column.rpartition(":")
    if not sep or not node_ref or not name:
        raise UsageError(f"{where}: expected NODE:INPUT, got {q(column)}")
    node_id = resolve_node(prompt, node_ref, where)
    inputs = prompt[node_id].get("inputs") or {}
    if name not in inputs:
        known = ", ".join(sorted(inputs)) or "none"
        raise UsageError(f"{where}: node {q(node_id)} ({shown(prompt[node_id].get('class_type', '?'))}) "
                         f"has no input {q(name)} (inputs: {shown(known, limit=300)})")
    if isinstance(inputs[name], list):
        raise UsageError(f"{where}: input {q(name)} of node {q(node_id)} is a link, not a value")
    return node_id, name


def typed(value: Any, current: Any, where: str) -> Any:
    """A text value cast to the type of the input's current value (int, float, bool or text)."""
    if not isinstance(value, str) or isinstance(current, str):
        return value
    try:
        if isinstance(current, bool):
            if value.lower() not in ("true", "false"):
                raise ValueError
            return value.lower() == "true"
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
    except ValueError:
        raise UsageError(f"{where}: expected a {type(current).__name__}, got {q(value)}") from None
    return value


def parse_values(text: str, where: str) -> list[str]:
    match = RANGE.match(text.strip())
    if match:
        first, last, step = int(match[1]), int(match[2]), int(match[3] or 1)
        if step <= 0 or last < first:
            raise UsageError(f"{where}: empty range {q(text)} (expected A..B with A <= B, step > 0)")
        return [str(v) for v in range(first, last + 1, step)]
    if ".." in text:
        raise UsageError(f"{where}: expected a range A..B or A..B:STEP of integers, got {q(text)}")
    values = [v.strip() for v in text.split(",")]
    if not all(values):
        raise UsageError(f"{where}: empty value in {q(text)}")
    return values


def parse_sweep(prompt: dict, text: str) -> tuple[Target, list[Any]]:
    where = f"--sweep {q(text)}"
    column, sep, values = text.partition("=")
    if not sep:
        raise UsageError(f"{where}: expected NODE:INPUT=VALUES (for example 5:noise_seed=0..99)")
    node_id, name = resolve_target(prompt, column.strip(), where)
    current = prompt[node_id]["inputs"][name]
    return (node_id, name), [typed(v, current, where) for v in parse_values(values, where)]


def read_rows(path: Path) -> Iterable[tuple[str, dict[str, Any]]]:
    """(where, {column: value}) for each row of a CSV or JSONL overrides file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read overrides {q(str(path))}: {getattr(exc, 'strerror', None) or exc}") from None
    if path.suffix.lower() == ".csv":
        for number, row in enumerate(csv.DictReader(text.splitlines()), start=2):
            if None in row or None in row.values():
                raise UsageError(f"{q(str(path))} line {number}: not as many values as columns")
            yield f"{q(str(path))} line {number}", row
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{q(str(path))} line {number}"
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"{where}: not JSON ({exc})") from None
        if not isinstance(row, dict):
            raise UsageError(f"{where}: expected a JSON object of NODE:INPUT keys")
        yield where, row


def file_overrides(prompt: dict, path: Path) -> list[dict[Target, Any]]:
    rows = []
    for where, row in read_rows(path):
        overrides = {}
        for column, value in row.items():
            target = resolve_target(prompt, str(column), where)
            overrides[target] = typed(value, prompt[target[0]]["inputs"][target[1]], f"{where} {q(column)}")
        rows.append(overrides)
    return rows


def plan_jobs(prompt: dict, sweeps: list[str], overrides_file: Path | None = None) -> list[Job]:
    """Every job of the batch: the overrides file's rows times every combination of the sweeps."""
    axes = [parse_sweep(prompt, text) for text in sweeps]
    rows = file_overrides(prompt, overrides_file) if overrides_file else [{}]
    count = len(rows)
    for _, values in axes:
        count *= len(values)
    if count > MAX_JOBS:
        raise UsageError(f"the sweeps give {count} jobs, more than {MAX_JOBS}")
    if count == 0:
        raise UsageError("the batch has no jobs (the overrides file has no rows)")
    jobs = []
    for row in rows:
        for combo in itertools.product(*(values for _, values in axes)):
            merged = {**row, **{target: value for (target, _), value in zip(axes, combo)}}
            jobs.append(Job(len(jobs), {f"{n}:{i}": v for (n, i), v in merged.items()}))
    return jobs


def job_prompt(prompt: dict, job: Job) -> dict:
    """A copy of the prompt with the job's overrides applied."""
    result = copy.deepcopy(prompt)
    for column, value in job.overrides.items():
        node_id, _, name = column.rpartition(":")
        result[node_id]["inputs"][name] = value
    return result
