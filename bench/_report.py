"""docs/benchmarks.md is written by the benchmarks: each full run replaces its own section."""
from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def write_section(name: str, command: str, markdown: str, doc: Path = DOC) -> None:
    """Replace the text between `<!-- bench:name -->` and `<!-- /bench:name -->` (appending the section if new)."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    body = f"{begin}\nCommand: `{command}`\n\n{markdown.strip()}\n{end}"
    text = doc.read_text() if doc.is_file() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip("\n") + f"\n\n{body}\n"
    doc.write_text(text)
    print(f"updated the '{name}' section of {doc}")
