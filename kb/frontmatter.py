"""Front matter of docs-site Markdown: YAML between ``---`` lines or TOML between ``+++`` lines.

Hugo, Jekyll, Docusaurus and mkdocs pages start with it. CommonMark does not know it: read as
Markdown, YAML front matter is a thematic break followed by a setext heading. kb reads only
the keys it uses (``title``, ``tags``/``keywords``, ``description``) with a small line parser
(no YAML library: front matter keys are flat in practice) and blanks the block out, keeping
the line count so ``file:line`` stays right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_FENCES = {  # fence line -> a key line of that format (YAML ``key: value``, TOML ``key = value``)
    "---": re.compile(r"^(\w[\w-]*)\s*:\s*(.*)$"),
    "+++": re.compile(r"^(\w[\w-]*)\s*=\s*(.*)$"),
}
MAX_LINES = 200  # a "front matter" longer than this is no front matter


@dataclass
class FrontMatter:
    """What kb takes from a page's front matter."""

    title: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    lines: int = 0  # how many lines it took (0: none)
    keys: dict[str, str] = field(default_factory=dict)


def split_front_matter(lines: list[str]) -> FrontMatter:
    """The front matter at the top of ``lines`` (which it blanks out in place), if any."""
    if not lines or lines[0].strip() not in _FENCES:
        return FrontMatter()
    fence = lines[0].strip()
    end = next((i for i in range(1, min(len(lines), MAX_LINES)) if lines[i].strip() == fence),
               None)
    if end is None:
        return FrontMatter()
    body = lines[1:end]
    pattern = _FENCES[fence]
    if not any(pattern.match(line) for line in body if line.strip()):
        return FrontMatter()  # a thematic break and a setext heading after all
    keys, lists = _read(body, pattern)
    for i in range(end + 1):
        lines[i] = ""
    tags = lists.get("tags") or lists.get("keywords") or ()
    return FrontMatter(keys.get("title", ""), keys.get("description", ""), tuple(tags),
                       end + 1, keys)


def _read(body: list[str], pattern: re.Pattern[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    keys: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    current = ""
    for line in body:
        item = re.match(r"^\s*-\s+(.*)$", line)
        if item and current:
            lists.setdefault(current, []).append(_scalar(item.group(1)))
            continue
        found = pattern.match(line)
        if not found:
            continue
        current, value = found.group(1).lower(), found.group(2).strip()
        if value.startswith("[") and value.endswith("]"):
            lists[current] = [_scalar(v) for v in value[1:-1].split(",") if v.strip()]
        elif value:
            keys[current] = _scalar(value)
            if current in {"tags", "keywords"}:
                lists[current] = [v.strip() for v in keys[current].split(",") if v.strip()]
    return keys, lists


def _scalar(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value.strip()
