"""Where the files a server names are saved: always inside the output folder, never over an existing file.

A server's /history is untrusted input. A record's `filename` must be a plain file name and its
`subfolder` a relative path without '..'; the destination folder is resolved (links followed) and must
lie inside the resolved output folder. Files are created with O_EXCL: an existing file or link of the
same name is kept and the new file takes the first free name STEM-1.EXT, STEM-2.EXT, ...
"""
from __future__ import annotations

import re
import sys
from pathlib import Path, PureWindowsPath
from typing import Any, BinaryIO, Iterator

from .errors import ServerError, UnsafeOutputPath

MAX_RENAMES = 10_000


def output_files(history_entry: Any) -> Iterator[dict]:
    """Every file record ({filename, subfolder, type}) in the outputs: images, gifs, audio..."""
    outputs = history_entry.get("outputs") if isinstance(history_entry, dict) else None
    for node_output in (outputs.values() if isinstance(outputs, dict) else ()):
        for items in (node_output.values() if isinstance(node_output, dict) else ()):
            if isinstance(items, list):
                yield from (item for item in items if isinstance(item, dict) and "filename" in item)


def _unsafe(what: str, value: Any, expected: str) -> UnsafeOutputPath:
    return UnsafeOutputPath(f"refusing the server's output {what} {ascii(value)}: expected {expected}")


def _is_plain_name(part: str) -> bool:
    """A single path component: no separators, not '.'/'..', no control characters (NUL...), no drive,
    and a name this file system can store (no lone surrogates)."""
    return (bool(part) and part not in (".", "..") and not any(c in part for c in "/\\")
            and all(ord(c) >= 32 for c in part) and not PureWindowsPath(part).drive and _encodable(part))


def _encodable(part: str) -> bool:
    try:
        part.encode(sys.getfilesystemencoding(), "surrogateescape")
    except UnicodeEncodeError:
        return False
    return True


def safe_file_name(value: Any) -> str:
    """The server-given file name if it is a plain name; UnsafeOutputPath otherwise."""
    if not isinstance(value, str) or not _is_plain_name(value):
        raise _unsafe("file name", value, "a plain file name")
    return value


def safe_subfolder(value: Any) -> tuple[str, ...]:
    """The components of a server-given relative subfolder ('' or None for none); UnsafeOutputPath otherwise."""
    if value is None or value == "":
        return ()
    expected = "a relative subfolder without '..'"
    if not isinstance(value, str) or value.startswith(("/", "\\")):
        raise _unsafe("subfolder", value, expected)
    parts = tuple(p for p in re.split(r"[/\\]", value) if p not in ("", "."))
    if not all(_is_plain_name(p) for p in parts):
        raise _unsafe("subfolder", value, expected)
    return parts


def output_target(out_dir: Path, record: dict) -> Path:
    """Where a server's file record is saved: inside the resolved out_dir, or UnsafeOutputPath.

    Existing folders are resolved (links followed) before the check, so a link inside out_dir that
    points elsewhere is refused too. The file name itself is not resolved: create_new_file uses
    O_EXCL, which never follows a link.
    """
    name = safe_file_name(record.get("filename"))
    parts = safe_subfolder(record.get("subfolder"))
    root = out_dir.resolve()
    folder = root.joinpath(*parts).resolve()
    if folder != root and not folder.is_relative_to(root):
        raise _unsafe("subfolder", record.get("subfolder"), f"a folder inside {root}")
    return folder / name


def create_new_file(target: Path) -> tuple[Path, BinaryIO]:
    """Open target for writing without clobbering: an existing file (or link) is kept, and the new
    file gets the first free name STEM-1.EXT, STEM-2.EXT, ..."""
    target.parent.mkdir(parents=True, exist_ok=True)
    for index in range(MAX_RENAMES):
        candidate = target if index == 0 else target.with_name(f"{target.stem}-{index}{target.suffix}")
        try:
            return candidate, open(candidate, "xb")
        except FileExistsError:
            continue
    raise ServerError(f"no free file name next to {target} ({MAX_RENAMES} taken)")
