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
from array import array
from bisect import bisect_left
from collections.abc import Callable, Sequence
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
_RE2_SPACE = re.compile(rb"[\t\f\r ]+")  # what RE2 means by [^\S\n]: its \s is ASCII
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
        found: list[tuple[int, int]] = []
        append, rfind, find, span = found.append, block.rfind, block.find, self._span
        pos, size = 0, len(block)
        while pos <= size:
            start, end = span(block, pos, size)
            if start < 0:
                break
            line_end = find(b"\n", end)
            if line_end < 0:
                line_end = size
            append((rfind(b"\n", 0, start) + 1, line_end))
            pos = line_end + 1
        return found

    def _span(self, block: bytes, pos: int, size: int) -> tuple[int, int]:
        """The first match in ``block[pos:size]``, (-1, -1) when there is none. On RE2 its
        own call (the rest of a line is skipped), without building a Python match object."""
        if self._re2 is not None:
            return self._re2.Match(self._unanchored, block, pos, size)[0]  # type: ignore[no-any-return]
        match = self._re.search(block, pos, size)
        return (-1, -1) if match is None else match.span()

    def search(self, data: bytes) -> bool:
        """True when ``data`` holds a match."""
        return bool(self.lines(data))


def compile_scanner(pattern: str) -> Scanner:
    """A Scanner for a machine-built pattern."""
    return Scanner(pattern)


_GLOBAL_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")


def scoped(pattern: str) -> str:
    """``pattern`` with the inline flags it opens with (``(?s)``, ``(?i)(?s)``) made a
    group's own (``(?s:...)``): the same pattern, and one that may stand inside an
    alternation of several (Python refuses global flags anywhere but at the start)."""
    flags, start = "", 0
    while match := _GLOBAL_FLAGS.match(pattern, start):
        flags += match.group(1)
        start = match.end()
    return f"(?{''.join(dict.fromkeys(flags))}:{pattern[start:]})" if flags else pattern


MIN_ATOM = 4  # characters: a shorter necessary literal would pick too many lines


def necessary_literals(pattern: str) -> list[str] | None:
    """Plain ASCII strings of which every match of ``pattern`` holds at least one (as RE2's
    FilteredRE2 finds "atoms"), each at least MIN_ATOM long; None when there are none such
    (or the pattern is not one Python's parser reads). A scanner for them instead of the
    pattern picks every line the pattern matches, and more: the log pipe's prefilter may
    pick too many lines (it matches the signatures on each), never too few."""
    if "[:" in pattern or "\\Q" in pattern:
        return None  # RE2's POSIX classes and quoting: Python's parser reads them otherwise
    try:
        parsed = _sre_parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    return _atoms(list(parsed))


def _sre_parse(pattern: str) -> Any:
    import re._parser as sre_parse  # noqa: PLC0415 - the standard parser of re, read only here
    import warnings  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "possible nested set" and the like
        return sre_parse.parse(pattern)


def _atoms(items: list[Any]) -> list[str] | None:
    """The best alternatives necessary for a sequence of parsed items: a run of literals, or
    what a group, an alternation or a repeat of at least one time needs."""
    from re._constants import BRANCH, LITERAL, MAX_REPEAT, MIN_REPEAT, SUBPATTERN  # noqa: PLC0415

    candidates: list[list[str]] = []
    run: list[str] = []

    def close() -> None:
        if len(run) >= MIN_ATOM:
            candidates.append(["".join(run)])
        run.clear()

    for op, av in items:
        if op is LITERAL and 0x20 <= av < 0x7F:
            run.append(chr(av))
            continue
        close()
        found: list[str] | None = None
        if op is SUBPATTERN:
            found = _atoms(list(av[-1]))
        elif op in (MAX_REPEAT, MIN_REPEAT) and av[0] >= 1:
            found = _atoms(list(av[2]))
        elif op is BRANCH:
            branches = [_atoms(list(branch)) for branch in av[1]]
            if all(branches):
                found = [atom for branch in branches if branch for atom in branch]
        if found:
            candidates.append(found)
    close()
    if not candidates:
        return None
    return max(candidates, key=lambda atoms: (min(map(len, atoms)), -len(atoms)))


def escape(text: str) -> str:
    """``text`` as a pattern that matches it literally (in RE2's syntax and Python's)."""
    return re2.escape(text) if LINEAR else re.escape(text)  # type: ignore[no-any-return]


class KeyIndex:
    """Which patterns each key names (PatternSet's keyed patterns), as plain data: the
    sorted distinct keys, each key's pattern numbers in one array, and the unkeyed ones.
    Made once with the index and looked up by binary search, so a process builds no
    dictionary of 200,000 keys to answer one line."""

    def __init__(self, keys: list[str], starts: array[int], numbers: array[int],
                 unkeyed: array[int]) -> None:
        self.keys = keys
        self._starts = starts
        self._numbers = numbers
        self.unkeyed = unkeyed

    @classmethod
    def of(cls, keys: Sequence[str]) -> KeyIndex:
        """The index of one key per pattern ('' for none)."""
        order = sorted((key, number) for number, key in enumerate(keys) if key)
        distinct: list[str] = []
        starts, numbers = array("I"), array("I")
        for position, (key, number) in enumerate(order):
            if not distinct or distinct[-1] != key:
                distinct.append(key)
                starts.append(position)
            numbers.append(number)
        starts.append(len(order))
        unkeyed = array("I", (n for n, key in enumerate(keys) if not key))
        return cls(distinct, starts, numbers, unkeyed)

    @classmethod
    def joined(cls, parts: Sequence[KeyIndex], sizes: Sequence[int]) -> KeyIndex:
        """The indexes of pattern lists one after the other (``sizes``: their lengths)."""
        named: dict[str, list[int]] = {}
        unkeyed, start = array("I"), 0
        for part, size in zip(parts, sizes, strict=True):
            for n, key in enumerate(part.keys):
                named.setdefault(key, []).extend(start + i for i in part.named(key, n))
            unkeyed.extend(start + i for i in part.unkeyed)
            start += size
        keys = sorted(named)
        starts, numbers = array("I"), array("I")
        for key in keys:
            starts.append(len(numbers))
            numbers.extend(sorted(named[key]))
        starts.append(len(numbers))
        return cls(keys, starts, numbers, unkeyed)

    def named(self, key: str, at: int | None = None) -> Sequence[int]:
        """The patterns ``key`` names (``at``: its position, when known)."""
        if at is None:
            at = bisect_left(self.keys, key)
            if at == len(self.keys) or self.keys[at] != key:
                return ()
        return self._numbers[self._starts[at] : self._starts[at + 1]]

    def as_data(self) -> dict[str, Any]:
        """Plain data for the index cache."""
        return {"keys": self.keys, "starts": self._starts.tobytes(),
                "numbers": self._numbers.tobytes(), "unkeyed": self.unkeyed.tobytes()}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> KeyIndex:
        """``as_data``'s inverse."""
        arrays = []
        for name in ("starts", "numbers", "unkeyed"):
            values = array("I")
            values.frombytes(data[name])
            arrays.append(values)
        return cls(list(data["keys"]), *arrays)


class PatternSet:
    """Many patterns matched against one text in one pass: which of them match anywhere.

    On RE2 this is an RE2::Set (case-insensitive) of the distinct patterns, in chunks so that
    no set outgrows RE2's memory budget, plus the *keyed* patterns: ``keys[i]`` ('' for none)
    names a word, or two words joined by a space, that must appear as whole white-space
    separated chunks (consecutive, for two) of any text the pattern matches -- the inner
    words of a literal signature do. Those are not compiled into the set (compiling 60,000
    patterns takes a second): a text's chunks are looked up and only the patterns they name
    are tried. ``literals(i)`` is the words of keyed pattern ``i`` joined by single spaces (it
    matches them with RE2's white space, ``[^\\S\\n]+``, between): on ASCII text and words that
    is a substring test of the lower-cased text with each run of that white space made one
    space; otherwise the pattern is compiled (on first use) and searched. The answer is the
    set's, exactly. Without RE2, ``fallbacks()`` are used one by one: a folded literal string
    (tested with ``in`` on the folded text) or a compiled pattern.
    """

    CHUNK = 2000
    COMPILED = 8192  # keyed patterns kept compiled
    # Fewer patterns than this all go into the set once this many texts have been matched:
    # the set answers a text in microseconds, where the lookups of keyed patterns take ten
    # times that (the log pipe matches every line it picks), but compiling it costs a
    # one-search process more than the lookups (the shipped FAQ's ~500: 12 ms).
    KEYED_FROM = 2000
    WHOLE_AFTER = 256

    def __init__(self, patterns: Sequence[str], fallbacks: Callable[[], Sequence[Any]],
                 keys: Sequence[str] | KeyIndex = (),
                 literals: Callable[[int], str] | None = None,
                 keyed_from: int | None = None) -> None:
        self._literals = literals
        self._patterns = patterns
        self._folded: dict[int, bytes] = {}  # keyed pattern -> its ASCII literal (b"": none)
        self._fallbacks: list[Any] = []
        self._compiled: dict[str, Any] = {}
        if not LINEAR:
            self._fallbacks = list(fallbacks())
            return
        self._matched = 0
        self._whole_after = (self.WHOLE_AFTER if len(patterns) < (
            self.KEYED_FROM if keyed_from is None else keyed_from) else None)
        self._build(keys if isinstance(keys, KeyIndex) else KeyIndex.of(
            keys or [""] * len(patterns)))

    def _build(self, keys: KeyIndex) -> None:
        """The RE2 sets of the patterns ``keys`` leaves unkeyed, swapped in at once (a server
        may match from several threads)."""
        numbers: dict[str, list[int]] = {}  # distinct unkeyed pattern -> its numbers
        for number in keys.unkeyed:
            numbers.setdefault(self._patterns[number], []).append(number)
        rest = list(numbers)
        sets = []
        for start in range(0, len(rest), self.CHUNK):
            options = _re2_options(case_sensitive=False)
            options.max_mem = 32 << 20
            chunk = re2.Set.SearchSet(options)
            for pattern in rest[start : start + self.CHUNK]:
                chunk.Add(pattern)
            chunk.Compile()
            sets.append((start, chunk))
        self._state = (keys, sets, [numbers[p] for p in rest])

    def match(self, text: str) -> tuple[int, ...]:
        """The numbers of the patterns that match somewhere in ``text``, ascending."""
        if not LINEAR:
            return self._match_slowly(text)
        self._matched += 1
        if self._matched == self._whole_after and self._state[0].keys:
            self._build(KeyIndex.of([""] * len(self._patterns)))  # every pattern in the set
        keys, sets, numbers = self._state
        data = text.encode("utf-8", "replace")
        found: list[int] = []
        for start, chunk in sets:
            for n in chunk.Match(data) or ():
                found += numbers[start + n]
        if keys.keys:
            found += self._match_keyed(keys, data)
        return tuple(sorted(set(found)))

    def _match_keyed(self, index: KeyIndex, data: bytes) -> list[int]:
        # The chunks of the text as RE2 reads it (invalid code points became '?'), folded as
        # RE2 folds case (casefold also maps KELVIN SIGN and LONG S to ASCII).
        words = [w.lower() if w.isascii() else w.casefold()
                 for w in data.decode("utf-8").split()]
        keys = set(words)
        keys.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
        # RE2's view of ASCII text for a literal: case folded, runs of [\t\f\r ] as one.
        folded = _RE2_SPACE.sub(b" ", data.lower()) if data.isascii() else b""
        found: list[int] = []
        for key in keys:
            for number in index.named(key):
                literal = self._literal(number) if folded else b""
                if (literal in folded if literal else self._compiled_pattern(
                        self._patterns[number]).search(data) is not None):
                    found.append(number)
        return found

    def _literal(self, number: int) -> bytes:
        """A keyed pattern's words joined by spaces, if ASCII (b"" when not, or unknown)."""
        known = self._folded.get(number)
        if known is None:
            if len(self._folded) >= 8 * self.COMPILED:
                self._folded.clear()
            text = self._literals(number) if self._literals else ""
            known = self._folded[number] = text.encode() if text.isascii() else b""
        return known

    def _compiled_pattern(self, pattern: str) -> Any:
        compiled = self._compiled.get(pattern)
        if compiled is None:
            if len(self._compiled) >= self.COMPILED:
                self._compiled.clear()
            compiled = self._compiled[pattern] = re2.compile(
                pattern.encode("utf-8"), _re2_options(case_sensitive=False))
        return compiled

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
