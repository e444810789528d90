"""A stream of log lines -> problems: one per (entry, template), with counts and a sample.

Each line is understood once, the way ``search`` understands it, and the answer is the one
``search`` would give: speed comes from not asking twice, never from asking differently.

1. Text arrives in blocks. One scanner (``Signals.prefilter``: every signature pattern, AH
   code and OpenSSL reason of the knowledge base, the markers of OpenSSL's numbered forms and
   of question-like lines) runs over each whole block; a line it skips can get no exact
   signal and is no question, so no confident answer, and costs nothing in Python.
2. A picked line is parsed once (``kb.logline.parse``: prefix, message, template, codes,
   OpenSSL errors) and its signals matched once (one RE2 set).
3. The answer is cached under ``kb.rank.answer_key`` (the template, decoded reasons, exact
   signals and what the caps read) in a bounded LRU, so a known template costs no search,
   whatever its variables hold.

Lines of one failing connection (same pid, a few lines apart) are joined: a line that is not
confident on its own is tried again together with the pid's previous picked lines, and a line
that maps to the same entry as the pid's previous one counts as the same occurrence.

Memory stays bounded at any cardinality: at most ``max_variants`` templates per entry are kept
(the ones whose template hash is smallest, so the choice does not depend on the order lines
come in), the rest of an entry's lines are counted in one "other variants" problem, and the
unmatched templates are bounded the same way. A ``Diagnosis`` is plain picklable data, and two
of them merge into one (``a + b``): associative and commutative, for map/reduce over parts.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kb.levels import ERROR_LEVELS, severity
from kb.logline import (
    ERROR_WORDS,
    Kind,
    Parsed,
    guess_kind,
    joined,
    line_of,
    looks_like_error,
    parse,
    strip_prefix,
)
from kb.logline import MAX_LINE as MAX_LINE_CHARS
from kb.rank import Searcher, answer_key, may_be_confident
from kb.regexguard import compile_scanner
from kb.signals import OPENSSL_MARKERS

if TYPE_CHECKING:  # (not at run time: pydantic costs a diagnose process ~40 ms to import)
    from kb.model import Entry, Hit

MAX_LINE = 65536  # bytes of one line kept; the rest is dropped
MAX_SAMPLE = 2000  # characters of a sample line kept in a problem
ANSWER_CACHE = 4096  # answers remembered, by answer key (bounded LRU)
MAX_VARIANTS = 50  # templates kept per entry
MAX_UNMATCHED = 500  # unmatched templates kept
JOIN_WINDOW = 8  # lines: how far apart lines of one connection may be
MAX_PIDS = 4096  # processes whose recent lines are remembered
LINE_CACHE = 2048  # answers remembered by what search reads of a line
OTHER_VARIANTS = ""  # the template of an entry's "other variants" problem


def _rank(template: str) -> int:
    """The order in which templates are kept when there are too many: a stable hash."""
    return int.from_bytes(hashlib.blake2b(template.encode("utf-8", "replace"),
                                          digest_size=8).digest(), "big")


@dataclass
class Problem:
    """One problem: an entry and the template of the lines that point to it.

    The "other variants" problem of an entry (template ``""``) counts the lines of the
    templates beyond the kept ones.
    """

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
    source: str = ""  # where the first occurrence was (a file name, a host)
    last_source: str = ""

    @property
    def severity(self) -> int:
        """Lower is worse (emerg 0 ... debug 7)."""
        return severity(self.level)

    @property
    def other_variants(self) -> bool:
        """True for the problem that counts an entry's templates beyond the kept ones."""
        return self.template == OTHER_VARIANTS

    def combined(self, other: Problem) -> Problem:
        """This problem and ``other`` (same entry and template) as one: counts add up, the
        first occurrence (and its sample) is the earlier one, the level the worse one."""
        first, last = sorted((self, other), key=_first_key), sorted((self, other), key=_last_key)
        worse = min(self.level, other.level, key=severity)
        return replace(
            first[0], count=self.count + other.count, level=worse,
            confidence=max(self.confidence, other.confidence),
            last_line=last[1].last_line, last_time=last[1].last_time,
            last_source=last[1].last_source,
        )

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
            "template": None if self.other_variants else self.template,
            "other_variants": self.other_variants,
            "level": self.level or None,
            "first_time": self.first_time or None,
            "last_time": self.last_time or None,
            "source": self.source or None,
        }


def _first_key(p: Problem) -> tuple[str, int, str]:
    return (p.source, p.first_line, p.sample)


def _last_key(p: Problem) -> tuple[str, int, str]:
    return (p.last_source, p.last_line, p.sample)


@dataclass
class Unmatched:
    """Error-looking lines of one template that got no confident answer."""

    template: str
    example: str
    count: int = 1
    first_line: int = 0
    source: str = ""

    def combined(self, other: Unmatched) -> Unmatched:
        """Both as one: counts add up, the earlier example stays."""
        first = min(self, other, key=lambda u: (u.source, u.first_line, u.example))
        return replace(first, count=self.count + other.count)


@dataclass
class _Variants:
    """The kept templates of one entry and the count of the rest."""

    kept: dict[str, Problem] = field(default_factory=dict)
    ranks: dict[str, int] = field(default_factory=dict)
    other: Problem | None = None


@dataclass
class Diagnosis:
    """Everything found so far: problems (worst first), unmatched templates, counters.

    Plain data: picklable, and ``a + b`` (or ``a.merge(b)``) is the diagnosis of both inputs
    (associative and commutative; line numbers are as each part counted them, so parts of one
    file are diagnosed with ``first_line`` set to where they start).
    """

    problems: list[Problem]
    unmatched: list[Unmatched]
    lines: int
    candidate_lines: int
    matched_lines: int
    other_unmatched: int = 0  # lines of unmatched templates beyond the kept ones
    max_variants: int = MAX_VARIANTS
    max_unmatched: int = MAX_UNMATCHED

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

    def merge(self, other: Diagnosis) -> Diagnosis:
        """The diagnosis of this input and ``other``'s together."""
        table = _ProblemTable(min(self.max_variants, other.max_variants))
        for problem in self.problems + other.problems:
            table.add(problem)
        unmatched = _UnmatchedTable(min(self.max_unmatched, other.max_unmatched))
        unmatched.other = self.other_unmatched + other.other_unmatched
        for item in self.unmatched + other.unmatched:
            unmatched.add(item)
        return Diagnosis(
            table.problems(), unmatched.items(), self.lines + other.lines,
            self.candidate_lines + other.candidate_lines,
            self.matched_lines + other.matched_lines, unmatched.other,
            table.max_variants, unmatched.limit,
        )

    __add__ = merge


class _ProblemTable:
    """Problems by entry and template, at most ``max_variants`` templates per entry."""

    def __init__(self, max_variants: int) -> None:
        self.max_variants = max_variants
        self._by_entry: dict[str, _Variants] = {}

    def find(self, entry_id: str, template: str) -> Problem | None:
        """The problem that counts lines of this entry and template (kept or other)."""
        variants = self._by_entry.get(entry_id)
        if variants is None:
            return None
        problem = variants.kept.get(template)
        if problem is not None or len(variants.kept) < self.max_variants:
            return problem
        if _rank(template) > max(variants.ranks.values()):  # beyond the kept templates
            return variants.other
        return None

    def add(self, problem: Problem) -> Problem:
        """Count ``problem`` (one or more lines); the problem object that now holds them."""
        variants = self._by_entry.setdefault(problem.entry.id, _Variants())
        if problem.other_variants:
            return self._to_other(variants, problem)
        template = problem.template
        known = variants.kept.get(template)
        if known is not None:
            variants.kept[template] = known.combined(problem)
            return variants.kept[template]
        rank = _rank(template)
        if len(variants.kept) >= self.max_variants:
            worst = max(variants.ranks, key=lambda t: (variants.ranks[t], t))
            if (rank, template) > (variants.ranks[worst], worst):
                return self._to_other(variants, problem)
            self._to_other(variants, variants.kept.pop(worst))
            del variants.ranks[worst]
        variants.kept[template] = problem
        variants.ranks[template] = rank
        return problem

    @staticmethod
    def _to_other(variants: _Variants, problem: Problem) -> Problem:
        moved = replace(problem, template=OTHER_VARIANTS)
        variants.other = moved if variants.other is None else variants.other.combined(moved)
        return variants.other

    def problems(self) -> list[Problem]:
        """Every problem, worst first, then most frequent, then first seen."""
        found = [p for v in self._by_entry.values() for p in v.kept.values()]
        found += [v.other for v in self._by_entry.values() if v.other is not None]
        return sorted(found, key=lambda p: (p.severity, -p.count, p.source, p.first_line,
                                            p.entry.id, p.template))


class _UnmatchedTable:
    """Unmatched templates, at most ``limit`` of them (smallest template hash first)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.other = 0
        self._kept: dict[str, Unmatched] = {}
        self._ranks: dict[str, int] = {}

    def add(self, item: Unmatched) -> None:
        known = self._kept.get(item.template)
        if known is not None:
            self._kept[item.template] = known.combined(item)
            return
        rank = _rank(item.template)
        if len(self._kept) >= self.limit:
            worst = max(self._ranks, key=lambda t: (self._ranks[t], t))
            if (rank, item.template) > (self._ranks[worst], worst):
                self.other += item.count
                return
            self.other += self._kept.pop(worst).count
            del self._ranks[worst]
        self._kept[item.template] = item
        self._ranks[item.template] = rank

    def items(self) -> list[Unmatched]:
        return sorted(self._kept.values(), key=lambda u: (-u.count, u.source, u.first_line,
                                                          u.template))


@dataclass
class _Seen:
    """One picked line of a pid, kept for joining with the lines that follow."""

    number: int
    parsed: Parsed
    hits: tuple[tuple[int, ...], ...]  # the signature numbers matching each of its lines


@dataclass
class _Recent:
    """The last picked lines of one pid (for joining a connection's lines)."""

    lines: deque[_Seen] = field(default_factory=lambda: deque(maxlen=4))
    problem: Problem | None = None
    problem_line: int = 0


class Diagnoser:
    """Incremental diagnosis: feed text or lines, collect problems as they are first seen."""

    def __init__(
        self, searcher: Searcher, *, collect_unmatched: bool = False, source: str = "",
        first_line: int = 1, max_variants: int = MAX_VARIANTS,
        max_unmatched: int = MAX_UNMATCHED,
    ) -> None:
        self._searcher = searcher
        self._signals = searcher.signals
        self._scanners = self._signals.prefilter()
        if collect_unmatched:
            self._scanners.append(compile_scanner(error_scan()))
        self._collect = collect_unmatched
        self._answers: OrderedDict[Hashable, Hit | None] = OrderedDict()  # by answer key
        self._queries: OrderedDict[Hashable, Hit | None] = OrderedDict()  # by query key
        self._lines: dict[Hashable, tuple[Hit | None, Parsed]] = {}  # by what search reads
        self._table = _ProblemTable(max_variants)
        self._unmatched = _UnmatchedTable(max_unmatched)
        self._recent: dict[str, _Recent] = {}
        self.source = source
        self.lines = 0
        self.candidates = 0
        self.matched = 0
        self._base = first_line - 1
        self._cutter = _LineCutter()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_scanners"] = None  # compiled RE2 objects: made again where unpickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scanners = self._signals.prefilter()
        if self._collect:
            self._scanners.append(compile_scanner(error_scan()))

    # -- input -----------------------------------------------------------------------------

    def feed_bytes(self, data: bytes) -> list[Problem]:
        """Feed raw log bytes (any split; a trailing partial line waits for the rest).

        Bytes are scanned as they are: only the lines the prefilter picks are decoded
        (invalid UTF-8 becomes U+FFFD). A line longer than MAX_LINE bytes keeps its start.
        """
        head = self._cutter.push(data)
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
        rest = self._cutter.rest()
        return self._scan(rest + b"\n") if rest else []

    # -- scanning --------------------------------------------------------------------------

    def _scan(self, block: bytes) -> list[Problem]:
        base = self._base + self.lines
        self.lines += block.count(b"\n")
        new: list[Problem] = []
        counted, newlines = 0, 0
        for start, end in self._candidate_spans(block):
            newlines += block.count(b"\n", counted, start)  # incremental: linear per block
            counted = start
            raw = block[start : min(end, start + MAX_LINE)].decode("utf-8", "replace")
            problem = self._line(raw.rstrip("\r").replace("\x00", "\ufffd"),
                                 base + newlines + 1)
            if problem is not None:
                new.append(problem)
        return new

    def _candidate_spans(self, block: bytes) -> list[tuple[int, int]]:
        """(start, end) of each line a scanner picks, in order."""
        if len(self._scanners) == 1:
            return self._scanners[0].lines(block)
        return sorted({span for scanner in self._scanners for span in scanner.lines(block)})

    def _line(self, raw: str, number: int) -> Problem | None:
        """Parse, answer and count one picked line; the problem when it is new."""
        if not raw.strip():
            return None
        self.candidates += 1
        if "\r" in raw:  # a lone CR: search reads two lines, and so do we
            parsed = parse(raw)
            return self._parsed_line(parsed, raw, number, self._line_hits(parsed))
        line = raw[:MAX_LINE_CHARS]
        shapes, fields, message = strip_prefix(line)
        hits = self._signals.line_hits(line)
        # What search reads of a line: its shapes, level, message and signals (or the whole
        # line when it has no prefix, as a question is read by its words).
        key = (tuple(shapes), fields.get("level", ""), message if shapes else raw, hits)
        known = self._lines.get(key)
        if known is None:
            parsed = Parsed(raw, Kind.LOG, [line_of(line, shapes, fields, message)])
            parsed.kind = guess_kind(raw, parsed.lines)
            known = self._lines[key] = (self._answer(parsed, (hits,)), parsed)
            if len(self._lines) > LINE_CACHE:
                del self._lines[next(iter(self._lines))]
        hit, seen = known
        if hit is not None and not self._joinable(fields.get("pid"), number):
            self.matched += 1
            return self._count(hit, seen.lines[0].template, fields, raw, number, None)
        parsed = Parsed(raw, seen.kind, [line_of(line, shapes, fields, message)])
        return self._parsed_line(parsed, raw, number, (hits,), hit)

    def _joinable(self, pid: str | None, number: int) -> bool:
        """True when this pid has recent lines within the join window."""
        if not pid:
            return False
        recent = self._recent.get(pid)
        return recent is not None and (
            bool(recent.lines) and number - recent.lines[-1].number <= JOIN_WINDOW
            or recent.problem is not None and number - recent.problem_line <= JOIN_WINDOW)

    def _line_hits(self, parsed: Parsed) -> tuple[tuple[int, ...], ...]:
        return tuple(self._signals.line_hits(line.raw) for line in parsed.lines)

    def _parsed_line(self, parsed: Parsed, raw: str, number: int,
                     hits: tuple[tuple[int, ...], ...], hit: Hit | None | bool = False
                     ) -> Problem | None:
        """Answer (unless ``hit`` is known), join and count a parsed line."""
        if hit is False:
            hit = self._answer(parsed, hits)
        assert hit is not True  # noqa: S101 - the sentinel is False only
        recent = self._recent_for(parsed, number)
        if hit is None and recent is not None and recent.lines:
            seen = list(recent.lines)
            together = joined("\n".join([s.parsed.text for s in seen] + [raw]),
                              [ln for s in seen for ln in s.parsed.lines] + parsed.lines)
            hit = self._answer(together, tuple(h for s in seen for h in s.hits) + hits)
        if hit is None:
            if recent is not None:
                recent.lines.append(_Seen(number, parsed, hits))
            self._note_unmatched(parsed, raw, number)
            return None
        self.matched += 1
        template = "\n".join(ln.template for ln in parsed.lines)
        return self._count(hit, template, parsed.lines[0].fields, raw, number, recent)

    def _answer(self, parsed: Parsed, line_hits: tuple[tuple[int, ...], ...]) -> Hit | None:
        """The confident top hit ``search`` gives this input, from the cache when known."""
        signals = self._signals.match(parsed, line_hits)
        key = answer_key(parsed, signals)
        if key in self._answers:
            self._answers.move_to_end(key)
            return self._answers[key]
        answer = None
        if may_be_confident(parsed, signals):
            # Templates that differ only in words the index does not know make one query.
            query = self._searcher.query(parsed, signals)
            answer = _cached(self._queries, query.key(), lambda: self._searcher.best(query))
        _remember(self._answers, key, answer)
        return answer

    def _recent_for(self, parsed: Parsed, number: int) -> _Recent | None:
        pid = parsed.lines[0].fields.get("pid") if len(parsed.lines) == 1 else None
        if not pid:
            return None
        recent = self._recent.get(pid)
        if recent is None or (recent.lines and number - recent.lines[-1].number > JOIN_WINDOW):
            if len(self._recent) >= MAX_PIDS:
                self._recent.clear()
            recent = self._recent[pid] = _Recent()
        return recent

    def _count(
        self, hit: Hit, template: str, fields: dict[str, str], raw: str, number: int,
        recent: _Recent | None,
    ) -> Problem | None:
        """Count one matched line; the problem when it is new (else None)."""
        if (recent is not None and recent.problem is not None
                and recent.problem.entry.id == hit.entry.id
                and number - recent.problem_line <= JOIN_WINDOW):
            recent.problem.last_line = number  # the same failing connection: one occurrence
            recent.problem_line = number
            return None
        time = fields.get("time", "")
        level = fields.get("level", "").lower()
        problem = self._table.find(hit.entry.id, template)
        if problem is not None:
            problem.count += 1
            problem.last_line, problem.last_source = number, self.source
            problem.last_time = time or problem.last_time
            if severity(level) < problem.severity:
                problem.level = level
        else:
            problem = self._table.add(Problem(
                hit.entry, template, hit.confidence, raw[:MAX_SAMPLE], number, number, 1,
                level, time, time, self.source, self.source))
        if recent is not None:
            recent.problem, recent.problem_line = problem, number
            recent.lines.clear()
        return problem if problem.count == 1 and not problem.other_variants else None

    def _note_unmatched(self, parsed: Parsed, raw: str, number: int) -> None:
        if not self._collect or not any(looks_like_error(line) for line in parsed.lines):
            return
        template = "\n".join(line.template for line in parsed.lines)
        self._unmatched.add(Unmatched(template, raw[:MAX_SAMPLE], 1, number, self.source))

    # -- results ---------------------------------------------------------------------------

    def result(self) -> Diagnosis:
        """The diagnosis so far: problems worst first, then most frequent."""
        return Diagnosis(self._table.problems(), self._unmatched.items(), self.lines,
                         self.candidates, self.matched, self._unmatched.other,
                         self._table.max_variants, self._unmatched.limit)


def _cached(cache: OrderedDict[Hashable, Hit | None], key: Hashable,
            compute: Callable[[], Hit | None]) -> Hit | None:
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = compute()
    _remember(cache, key, value)
    return value


def _remember(cache: OrderedDict[Hashable, Hit | None], key: Hashable,
              value: Hit | None) -> None:
    cache[key] = value
    if len(cache) > ANSWER_CACHE:
        cache.popitem(last=False)


def error_scan() -> str:
    """The scanner pattern of error-looking lines (``--unmatched``): at least every line
    ``kb.logline.looks_like_error`` accepts (error levels, error words, OpenSSL errors)."""
    levels = "|".join(sorted(ERROR_LEVELS))
    words = "|".join(w.replace(" ", r"\s+") for w in ERROR_WORDS)
    return (rf"[:\[](?:{levels})\]|\b(?:{words})\b|"
            + "|".join(f"(?:{m})" for m in OPENSSL_MARKERS))


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
