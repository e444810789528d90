"""Which files make up a collection (kept apart from the compiler: a warm start lists and
hashes the files but never parses them)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kb.errors import ContentError

SUFFIXES = (".md", ".markdown", ".mdx")  # Markdown, as docs sites name it


def markdown_files(paths: Iterable[Path | str]) -> list[Path]:
    """Every Markdown file (``*.md``, ``*.markdown``, ``*.mdx``) under the given files and
    folders, sorted; a file named directly counts whatever its name; ContentError if missing."""
    found: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*")
                                if p.suffix.lower() in SUFFIXES and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            missing.append(f"{path}:0: no such file or folder: check the path (--kb / KB_PATH)")
    if missing:
        raise ContentError(missing)
    return found
