"""Which files make up a collection (kept apart from the compiler: a warm start lists and
hashes the files but never parses them)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from kb.errors import ContentError

SUFFIXES = (".md", ".markdown", ".mdx")  # Markdown, as docs sites name it


def markdown_files(paths: Iterable[Path | str]) -> list[Path]:
    """Every Markdown file (``*.md``, ``*.markdown``, ``*.mdx``) under the given files and
    folders, sorted; a file named directly counts whatever its name; ContentError if missing.
    (Folders that cannot be read are left out: ``markdown_listing`` names them.)"""
    return markdown_listing(paths)[0]


def markdown_listing(paths: Iterable[Path | str]) -> tuple[list[Path], list[str]]:
    """``markdown_files``, and a problem (``folder:0: cannot read folder: ...``) for each
    folder under the paths that could not be listed, so that its entries never vanish
    silently (issue 18, F19). Links to folders are not followed (no loops)."""
    found: list[Path] = []
    missing: list[str] = []
    unreadable: list[str] = []

    def note(error: OSError) -> None:
        if not isinstance(error, FileNotFoundError):  # (removed while listed: not there)
            unreadable.append(f"{error.filename}:0: cannot read folder: "
                              f"{error.strerror or error}")

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = []
            for folder, _, names in os.walk(path, onerror=note):
                for name in names:
                    child = Path(folder, name)
                    if child.suffix.lower() in SUFFIXES and child.is_file():
                        inside.append(child)
            found.extend(sorted(inside))
        elif path.is_file():
            found.append(path)
        else:
            missing.append(f"{path}:0: no such file or folder: check the path (--kb / KB_PATH)")
    if missing:
        raise ContentError(missing)
    return found, unreadable
