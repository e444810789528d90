"""Regex safety for signatures written in content: refuse patterns that can backtrack badly.

Decision (issue 7): dangerous patterns are rejected when content is compiled (so ``kb lint``
reports them), and every line is cut to ``MAX_MATCH_CHARS`` before any signature regex runs.
A pattern is dangerous when an unbounded repeat contains another unbounded repeat (``(a+)+``,
``(\\w*\\s?)*``): the classic exponential case. What remains (``.*x.*y``) is at worst
polynomial on a bounded line.
"""

from __future__ import annotations

import re

try:  # Python 3.11+: the parser moved; keep one import site.
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older layouts
    import sre_parse  # type: ignore[no-redef]

MAX_PATTERN_CHARS = 1000
MAX_MATCH_CHARS = 8192
_UNBOUNDED = 65535  # sre's MAXREPEAT shows up as a large int
_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}


class RegexRejected(ValueError):
    """A signature pattern is valid but unsafe or too long."""


def check_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a signature pattern case-insensitively; raise re.error or RegexRejected."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexRejected(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    compiled = re.compile(pattern, re.IGNORECASE)
    if _nested_unbounded(sre_parse.parse(pattern), inside=False):
        raise RegexRejected(
            "nested unbounded repeats (like '(a+)+') can hang on hostile input: "
            "rewrite it without a repeat inside a repeat"
        )
    return compiled


def _nested_unbounded(parsed: object, inside: bool) -> bool:
    for op, arg in parsed:  # type: ignore[attr-defined]
        name = str(op)
        if name in _REPEATS:
            low, high, sub = arg
            unbounded = high >= _UNBOUNDED or high > 100
            if unbounded and inside:
                return True
            if _nested_unbounded(sub, inside or unbounded):
                return True
        elif name == "SUBPATTERN":
            if _nested_unbounded(arg[-1], inside):
                return True
        elif name == "BRANCH":
            if any(_nested_unbounded(branch, inside) for branch in arg[1]):
                return True
        elif name in {"ASSERT", "ASSERT_NOT"}:
            if _nested_unbounded(arg[1], inside):
                return True
    return False


def literal_runs(pattern: str) -> list[str]:
    """The runs of plain characters at the top level of ``pattern`` (for prefiltering)."""
    runs: list[str] = []
    current: list[str] = []
    for op, arg in sre_parse.parse(pattern):
        if str(op) == "LITERAL":
            current.append(chr(arg))
            continue
        if current:
            runs.append("".join(current))
        current = []
    if current:
        runs.append("".join(current))
    return runs
