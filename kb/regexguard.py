"""Regex safety for signatures written in content, and the fast scanner of the log pipe.

Decision (issue 7): signature regexes run on RE2 (google-re2), a linear-time engine, so no
pattern can hang on hostile input, however it is written. A pattern RE2 cannot run
(lookaround, back-references) is rejected when content is compiled, so ``kb lint`` reports it.
Where google-re2 is not installed kb falls back to Python's ``re`` and then refuses the
patterns known to backtrack badly: a repeat around another repeat or an alternation
(``(a+)+``, ``(a|aa)+``, ``(.*a){20}``) and more than one unbounded wildcard (``a.*a.*b``).
Either way every line is cut to ``MAX_MATCH_CHARS`` before a signature regex runs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

try:  # Python 3.11+: the parser moved; keep one import site.
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - older layouts
    import sre_parse  # type: ignore[no-redef]

try:
    import re2  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - exercised by setting LINEAR = False in tests
    re2 = None

MAX_PATTERN_CHARS = 1000
MAX_NESTING = 100  # groups inside groups: Python's regex parser recurses per level (issue 18)
MAX_MATCH_CHARS = 8192
LINEAR = re2 is not None
_REPEATS = {"MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"}
_UNBOUNDED = 65535


class Matcher(Protocol):
    """What kb needs of a compiled pattern (``re.Pattern`` and RE2's both qualify)."""

    def search(self, text: Any) -> Any: ...

    def finditer(self, text: Any) -> Any: ...


class RegexRejected(ValueError):
    """A signature pattern is valid Python but unsafe, unsupported or too long."""


def _re2_options(case_sensitive: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False
    options.max_mem = 64 << 20
    return options


def check_pattern(pattern: str) -> Matcher:
    """Compile a signature pattern, case-insensitive; raise re.error or RegexRejected.

    Python's parser runs first so syntax errors carry a position for ``file:line:col``.
    """
    if len(pattern) > MAX_PATTERN_CHARS:
        raise RegexRejected(f"pattern longer than {MAX_PATTERN_CHARS} characters")
    depth = nesting(pattern)
    if depth > MAX_NESTING:
        raise RegexRejected(f"groups nested {depth} deep (at most {MAX_NESTING}): flatten "
                            "the pattern")
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except RecursionError:  # pragma: no cover - the nesting limit stops it first
        raise RegexRejected("pattern too deeply nested: flatten it") from None
    if LINEAR:
        try:
            return _linear(pattern)
        except re2.error as exc:
            detail = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise RegexRejected(
                f"the linear-time engine cannot run it ({detail}): drop lookarounds and "
                "back-references"
            ) from None
    reason = backtracking_risk(pattern)
    if reason:
        raise RegexRejected(f"{reason}: it can hang on hostile input; simplify the pattern")
    return compiled


def nesting(pattern: str) -> int:
    """How deep the pattern's groups nest (escapes and character classes skipped)."""
    depth = deepest = 0
    escaped = False
    opened = -1  # where the character class being read opened (-1: none)
    for position, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif opened >= 0:  # a ']' first in the class (after '[' or '[^') is a literal
            first = position == opened + 1 or (position == opened + 2
                                                and pattern[opened + 1] == "^")
            if char == "]" and not first:
                opened = -1
        elif char == "[":
            opened = position
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth = max(0, depth - 1)
    return deepest


def compile_pattern(pattern: str) -> Matcher:
    """``check_pattern`` for the load path: straight to RE2 when it accepts the pattern
    (content was checked when compiled); the full check runs only to word a refusal."""
    if LINEAR and len(pattern) <= MAX_PATTERN_CHARS and nesting(pattern) <= MAX_NESTING:
        try:
            return _linear(pattern)
        except re2.error:
            pass
    return check_pattern(pattern)


def _linear(pattern: str) -> Matcher:
    """A signature pattern on RE2, case-insensitive (raises re2.error)."""
    return re2.compile(pattern, _re2_options(case_sensitive=False))  # type: ignore[no-any-return]


class Scanner:
    """A case-insensitive scanner over bytes for machine-built patterns (the log pipe's
    prefilter), line by line: ``^``/``$`` match at line ends and no match crosses one."""

    def __init__(self, pattern: str) -> None:
        raw = pattern.encode("utf-8")
        self._re2: Any = None
        if LINEAR:
            options = _re2_options(case_sensitive=False)
            options.never_nl = True
            options.max_mem = 64 << 20
            self._re2 = re2.compile(b"(?m)" + raw, options)._regexp
            self._unanchored = re2._Anchor.UNANCHORED
        else:
            self._re = re.compile(b"(?m)(?:" + raw + b")", re.IGNORECASE)

    def lines(self, block: bytes) -> list[tuple[int, int]]:
        """(start, end) of every line of ``block`` that holds a match, in order (``end`` is
        the position of its newline, or the end of the block)."""
        found = []
        pos, size = 0, len(block)
        while pos <= size:
            if self._re2 is not None:
                # RE2's own call: one per matching line (the rest of a line is skipped),
                # without building Python match objects.
                span = self._re2.Match(self._unanchored, block, pos, size)[0]
                if span[0] < 0:
                    break
                start, end = span
            else:
                match = self._re.search(block, pos)
                if match is None:
                    break
                start, end = match.span()
            line_start = block.rfind(b"\n", 0, start) + 1
            line_end = block.find(b"\n", end)
            if line_end < 0:
                line_end = size
            found.append((line_start, line_end))
            pos = line_end + 1
        return found

    def search(self, data: bytes) -> bool:
        """True when ``data`` holds a match."""
        return bool(self.lines(data))


def compile_scanner(pattern: str) -> Scanner:
    """A Scanner for a machine-built pattern."""
    return Scanner(pattern)


def escape(text: str) -> str:
    """``text`` as a pattern that matches it literally (in RE2's syntax and Python's)."""
    return re2.escape(text) if LINEAR else re.escape(text)  # type: ignore[no-any-return]


class PatternSet:
    """Many patterns matched against one text in one pass: which of them match anywhere.

    On RE2 this is an RE2::Set (case-insensitive), in chunks so that no set outgrows RE2's
    memory budget. Without RE2, ``fallbacks`` are used one by one: a folded literal string
    (tested with ``in`` on the folded text) or a compiled pattern.
    """

    CHUNK = 2000

    def __init__(self, patterns: Sequence[str], fallbacks: Sequence[Any]) -> None:
        self._fallbacks = list(fallbacks)
        self._sets: list[tuple[int, Any]] = []
        if not LINEAR:
            return
        for start in range(0, len(patterns), self.CHUNK):
            options = _re2_options(case_sensitive=False)
            options.max_mem = 32 << 20
            chunk = re2.Set.SearchSet(options)
            for pattern in patterns[start : start + self.CHUNK]:
                chunk.Add(pattern)
            chunk.Compile()
            self._sets.append((start, chunk))

    def match(self, text: str) -> tuple[int, ...]:
        """The numbers of the patterns that match somewhere in ``text``, ascending."""
        if not LINEAR:
            return self._match_slowly(text)
        data = text.encode("utf-8", "replace")
        found: list[int] = []
        for start, chunk in self._sets:
            numbers = chunk.Match(data)
            if numbers:
                found.extend(start + n for n in numbers)
        return tuple(sorted(found))

    def _match_slowly(self, text: str) -> tuple[int, ...]:
        folded = " ".join(text.lower().split())
        return tuple(
            i for i, item in enumerate(self._fallbacks)
            if (item in folded if isinstance(item, str) else item.search(text))
        )


def backtracking_risk(pattern: str) -> str:
    """Why ``pattern`` may backtrack badly in Python's ``re`` ('' when it looks safe)."""
    parsed = sre_parse.parse(pattern)
    if _repeat_around_choice(parsed):
        return "a repeat around another repeat or an alternation (like '(a+)+' or '(a|aa)+')"
    if _wildcards(parsed) > 1:
        return "more than one unbounded wildcard (like 'a.*b.*c')"
    return ""


def _children(op: str, arg: Any) -> list[Any]:
    if op in _REPEATS:
        return [arg[2]]
    if op == "SUBPATTERN":
        return [arg[-1]]
    if op == "BRANCH":
        return list(arg[1])
    if op in {"ASSERT", "ASSERT_NOT"}:
        return [arg[1]]
    return []


def _repeat_around_choice(parsed: Any, inside: bool = False) -> bool:
    for op, arg in parsed:
        name = str(op)
        if inside and (name in _REPEATS or name == "BRANCH"):
            return True
        repeats = name in _REPEATS and arg[1] > 1
        for child in _children(name, arg):
            if _repeat_around_choice(child, inside or repeats):
                return True
    return False


def _wildcards(parsed: Any) -> int:
    count = 0
    for op, arg in parsed:
        name = str(op)
        if name in _REPEATS and arg[1] >= _UNBOUNDED:
            body = list(arg[2])
            broad = len(body) == 1 and str(body[0][0]) in {"ANY", "NOT_LITERAL", "IN"}
            count += broad
        for child in _children(name, arg):
            count += _wildcards(child)
    return count
