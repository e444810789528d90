"""A stream of log lines -> problems: one per (entry, template), with counts and a sample.

Speed comes from doing little per line. Text arrives in blocks; one combined regex (every
known AH code, signature literal, OpenSSL reason and marker: ``Signals.prefilter``) runs over
the whole lower-cased block, so lines that cannot carry an exact signal cost nothing in
Python. Only text with an exact signal can reach a confident answer (text-only log matches are
capped below the threshold in kb.rank), so the skip loses no problem. Candidate lines are
masked into templates and ranked once per template (bounded LRU cache).

Lines of one failing connection (same pid, a few lines apart) are joined: a line that is not
confident on its own is tried again together with the pid's previous candidate lines, and a
line that maps to the same entry as the pid's previous one counts as the same occurrence.
"""

from __future__ import annotations

import re
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kb.logline import ParsedLine, looks_like_error, parse_line, peel_source_tag
from kb.model import Entry, Hit
from kb.openssl import OpenSSLError
from kb.regexguard import compile_scanner
from kb.shapes.apache24 import SHAPE as APACHE24

if TYPE_CHECKING:
    from kb.knowledgebase import KnowledgeBase

MAX_LINE = 65536  # characters of one line kept; the rest is dropped
CACHE_SIZE = 8192  # templates remembered (bounded: memory stays flat)
UNMATCHED_LIMIT = 2000  # distinct unmatched templates kept
JOIN_WINDOW = 8  # lines: how far apart lines of one connection may be
SEVERITY = {
    "emerg": 0, "alert": 1, "crit": 2, "error": 3, "warn": 4, "warning": 4,
    "notice": 5, "info": 6, "debug": 7, "": 4,
}


@dataclass
class Problem:
    """One problem: an entry and the template of the lines that point to it."""

    entry: Entry
    template: str
    confidence: float
    sample: str
    first_line: int
    last_line: int
    count: int = 1
    level: str = ""
    first_time: str = ""
    last_time: str = ""
    source: str = ""

    @property
    def severity(self) -> int:
        """Lower is worse (emerg 0 ... debug 7)."""
        return SEVERITY.get(self.level, 4)

    def as_json(self) -> dict[str, object]:
        """The NDJSON object of ``kb diagnose --json``."""
        return {
            "type": "problem",
            "id": self.entry.id,
            "title": self.entry.title,
            "confidence": round(self.confidence, 3),
            "count": self.count,
            "first_line": self.first_line,
            "last_line": self.last_line,
            "sample": self.sample,
            "template": self.template,
            "level": self.level or None,
            "first_time": self.first_time or None,
            "last_time": self.last_time or None,
            "source": self.source or None,
        }


@dataclass
class Unmatched:
    """Error-looking lines of one template that got no confident answer."""

    template: str
    example: str
    count: int = 1
    first_line: int = 0


@dataclass
class Diagnosis:
    """Everything found so far: problems (worst first), unmatched templates, counters."""

    problems: list[Problem]
    unmatched: list[Unmatched]
    lines: int
    candidate_lines: int
    matched_lines: int

    def summary(self) -> dict[str, object]:
        """The NDJSON summary object."""
        return {
            "type": "summary",
            "lines": self.lines,
            "candidate_lines": self.candidate_lines,
            "matched_lines": self.matched_lines,
            "problems": len(self.problems),
            "unmatched_templates": len(self.unmatched),
        }


@dataclass
class _Recent:
    """The last candidate lines of one pid (for joining a connection's lines)."""

    lines: deque[tuple[int, str, str]] = field(default_factory=lambda: deque(maxlen=4))
    problem: Problem | None = None
    problem_line: int = 0


class Diagnoser:
    """Incremental diagnosis: feed text or lines, collect problems as they are first seen."""

    def __init__(self, kb: KnowledgeBase, *, collect_unmatched: bool = False) -> None:
        self._kb = kb
        self._prefilter = kb.signals.prefilter()
        self._errors = compile_scanner(_ERROR_SCAN) if collect_unmatched else None
        self._cache: OrderedDict[str, Hit | None] = OrderedDict()
        self._quick: dict[bytes, tuple[str, list[str], list[OpenSSLError]]] = {}
        self._problems: dict[tuple[str, str], Problem] = {}
        self._unmatched: dict[str, Unmatched] = {}
        self._recent: dict[str, _Recent] = {}
        self.lines = 0
        self.candidates = 0
        self.matched = 0
        self._lines = _LineCutter()

    # -- input -----------------------------------------------------------------------------

    def feed_bytes(self, data: bytes) -> list[Problem]:
        """Feed raw log bytes (any split; a trailing partial line waits for the rest).

        Bytes are scanned as they are: only the lines the prefilter picks are decoded
        (invalid UTF-8 becomes U+FFFD). A line longer than MAX_LINE bytes keeps its start.
        """
        head = self._lines.push(data)
        return self._scan(head) if head else []

    def feed_text(self, text: str) -> list[Problem]:
        """Feed a block of text (any number of lines; a trailing partial line waits)."""
        return self.feed_bytes(text.encode("utf-8", "replace"))

    def feed(self, lines: Iterable[str]) -> list[Problem]:
        """Feed whole lines (with or without their newline)."""
        new: list[Problem] = []
        for line in lines:
            new += self.feed_text(line if line.endswith("\n") else line + "\n")
        return new

    def flush(self) -> list[Problem]:
        """Treat a pending partial line as complete (end of input)."""
        rest = self._lines.rest()
        return self._scan(rest + b"\n") if rest else []

    # -- scanning --------------------------------------------------------------------------

    def _scan(self, block: bytes) -> list[Problem]:
        base = self.lines
        self.lines += block.count(b"\n")
        spans = self._candidate_spans(block, block.lower())  # bytes.lower(): ASCII only
        new: list[Problem] = []
        counted, newlines = 0, 0
        for start, end in spans:
            newlines += block.count(b"\n", counted, start)  # incremental: linear per block
            counted = start
            raw = block[start : min(end, start + MAX_LINE)]
            quick = raw.translate(None, b"0123456789") + b"\x1f" + b",".join(_KEPT.findall(raw))
            problem = self._line(raw.decode("utf-8", "replace"), base + newlines + 1, quick)
            if problem is not None:
                new.append(problem)
        return new

    def _candidate_spans(self, block: bytes, lowered: bytes) -> list[tuple[int, int]]:
        """(start, end) of each line the prefilter (or the error scan) picks, in order."""
        patterns = [self._prefilter] + ([self._errors] if self._errors is not None else [])
        starts: set[int] = set()
        spans = []
        for pattern in patterns:
            for match in pattern.finditer(lowered):
                start = block.rfind(b"\n", 0, match.start()) + 1
                if start in starts:
                    continue
                starts.add(start)
                end = block.find(b"\n", match.end())
                spans.append((start, end if end >= 0 else len(block)))
        spans.sort()
        return spans

    def _line(self, raw: str, number: int, quick: bytes) -> Problem | None:
        raw = raw.rstrip("\r").replace("\x00", "\ufffd")
        self.candidates += 1
        parsed = self._parse(raw, quick)
        key = parsed.template + "\x1f" + "\x1f".join(e.reason for e in parsed.openssl)
        hit = self._answer(key, raw)
        recent = self._recent_for(parsed, number)
        if hit is None and recent is not None and recent.lines:
            joined = "\n".join([line for _, line, _ in recent.lines] + [raw])
            key = "\n".join(template for _, _, template in recent.lines)
            hit = self._answer(key + "\n" + parsed.template, joined)
        if hit is None:
            if recent is not None:
                recent.lines.append((number, raw, parsed.template))
            self._note_unmatched(parsed, raw, number)
            return None
        self.matched += 1
        return self._count(hit, parsed, raw, number, recent)

    def _parse(self, raw: str, quick: bytes) -> ParsedLine:
        """parse_line, with masking skipped for Apache 2.4 lines seen before with other
        numbers: such lines share their template, codes and OpenSSL errors. ``quick`` is the
        raw line without its digits plus the numbers that carry meaning (_KEPT)."""
        prefix = APACHE24.match(raw)
        if prefix is None:
            return parse_line(raw)
        message = peel_source_tag(prefix.message, prefix.fields)
        known = self._quick.get(quick)
        if known is None:
            parsed = parse_line(raw)
            if parsed.shapes != ["apache24"]:
                return parsed
            if len(self._quick) >= CACHE_SIZE:
                self._quick.clear()
            self._quick[quick] = (parsed.template, parsed.ah_codes, parsed.openssl)
            return parsed
        template, codes, errors = known
        return ParsedLine(raw, ["apache24"], prefix.fields, message.strip(), codes, errors,
                          template)

    def _recent_for(self, parsed: ParsedLine, number: int) -> _Recent | None:
        pid = parsed.fields.get("pid")
        if not pid:
            return None
        recent = self._recent.get(pid)
        if recent is None or (recent.lines and number - recent.lines[-1][0] > JOIN_WINDOW):
            if len(self._recent) > 4096:
                self._recent.clear()
            recent = self._recent[pid] = _Recent()
        return recent

    def _answer(self, key: str, text: str) -> Hit | None:
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        from kb.rank import CONFIDENT

        hits = self._kb.search(text, limit=1)
        answer = hits[0] if hits and hits[0].confidence >= CONFIDENT else None
        self._cache[key] = answer
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return answer

    def _count(
        self, hit: Hit, parsed: ParsedLine, raw: str, number: int, recent: _Recent | None
    ) -> Problem | None:
        same_event = (
            recent is not None
            and recent.problem is not None
            and recent.problem.entry.id == hit.entry.id
            and number - recent.problem_line <= JOIN_WINDOW
        )
        if same_event and recent is not None and recent.problem is not None:
            recent.problem.last_line = number
            recent.problem_line = number
            return None
        key = (hit.entry.id, parsed.template)
        problem = self._problems.get(key)
        time = parsed.fields.get("time", "")
        level = parsed.level
        if problem is None:
            problem = Problem(hit.entry, parsed.template, hit.confidence, raw[:2000], number,
                              number, 1, level, time, time)
            self._problems[key] = problem
            is_new = True
        else:
            problem.count += 1
            problem.last_line = number
            problem.last_time = time or problem.last_time
            if SEVERITY.get(level, 4) < problem.severity:
                problem.level = level
            is_new = False
        if recent is not None:
            recent.problem, recent.problem_line = problem, number
            recent.lines.clear()
        return problem if is_new else None

    def _note_unmatched(self, parsed: ParsedLine, raw: str, number: int) -> None:
        if self._errors is None or not looks_like_error(parsed):
            return
        item = self._unmatched.get(parsed.template)
        if item is not None:
            item.count += 1
        elif len(self._unmatched) < UNMATCHED_LIMIT:
            self._unmatched[parsed.template] = Unmatched(parsed.template, raw[:2000], 1, number)

    # -- results ---------------------------------------------------------------------------

    def result(self) -> Diagnosis:
        """The diagnosis so far: problems worst first, then most frequent."""
        problems = sorted(self._problems.values(), key=lambda p: (p.severity, -p.count,
                                                                  p.first_line))
        unmatched = sorted(self._unmatched.values(), key=lambda u: -u.count)
        return Diagnosis(problems, unmatched, self.lines, self.candidates, self.matched)


# Numbers that carry meaning and so must stay in the quick key (all other digits are dropped):
# AH codes, "alert number 42", "num=20", "Error (20)", APR status "(70007)", packed codes.
_KEPT = re.compile(rb"AH\d{5}|number \d+|num=\d+|\(\d+\)|(?<!\d)\d{8,10}(?!\d)")

# Error words and levels: which lines --unmatched looks at (besides exact-signal candidates).
_ERROR_SCAN = (
    r":(?:error|crit|alert|emerg)\]|\[(?:error|crit|alert|emerg)\]|"
    r"\b(?:failed|unable to|cannot|could not|refused|denied|invalid|segmentation fault)\b"
)


class _LineCutter:
    """Cuts a byte stream, split anywhere, into whole lines. A line longer than MAX_LINE
    bytes keeps its start (ended with a newline); the rest of it is skipped."""

    def __init__(self) -> None:
        self._pending = b""
        self._skipping = False

    def push(self, data: bytes) -> bytes:
        """The whole lines that ``data`` completes (b"" when none)."""
        if self._skipping:
            newline = data.find(b"\n")
            if newline < 0:
                return b""
            data, self._skipping = data[newline + 1 :], False
        data = self._pending + data if self._pending else data
        cut = data.rfind(b"\n") + 1
        self._pending = data[cut:]
        head = data[:cut]
        if len(self._pending) > MAX_LINE:
            head += self._pending[:MAX_LINE] + b"\n"
            self._pending, self._skipping = b"", True
        return head

    def rest(self) -> bytes:
        """The unfinished last line, if any (end of input), without a newline."""
        rest, self._pending, self._skipping = self._pending, b"", False
        return rest


def read_blocks(stream: Iterable[bytes]) -> Iterator[str]:
    """Decode byte blocks leniently (invalid UTF-8 becomes U+FFFD), whole lines at a time.

    A line longer than MAX_LINE bytes is cut: its start is kept, the rest skipped.
    """
    lines = _LineCutter()
    for data in stream:
        head = lines.push(data)
        if head:
            yield head.decode("utf-8", "replace")
    rest = lines.rest()
    if rest:
        yield rest.decode("utf-8", "replace")
