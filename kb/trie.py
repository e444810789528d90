"""Many literals joined into one regex shaped like a trie, so ``re`` scans them fast.

``trie_regex(["abc", "abd", "x"])`` gives ``(?:ab[cd]|x)``: each position tries one branch per
distinct next character instead of every literal in turn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_END = ""


def trie_regex(words: Iterable[str], space: str = r"\s+") -> str:
    """A regex matching any of ``words`` (a space in a word matches ``space``)."""
    root: dict[str, dict] = {}
    for word in words:
        if not word:
            continue
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[_END] = {}
    return _pattern(root, space) if root else r"(?!x)x"


def _pattern(node: dict[str, dict], space: str) -> str:
    ends = _END in node
    branches = [_char(c, space) + _pattern(child, space) for c, child in sorted(node.items()) if c]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends:
        return f"(?:{body})?"
    return body


def _char(char: str, space: str) -> str:
    return space if char == " " else re.escape(char)
