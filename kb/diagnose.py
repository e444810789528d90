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
import heapq
import re
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kb.episodes import WINDOW, Episode, Seen, role_of, scanner_patterns
from kb.levels import ERROR_LEVELS, severity
from kb.logfiles import host_of
from kb.logline import (
    ERROR_WORDS,
    Kind,
    Parsed,
    ParsedLine,
    guess_kind,
    line_of,
    looks_like_error,
    parse,
    parse_line,
    strip_prefix,
)
from kb.logline import MAX_LINE as MAX_LINE_CHARS
from kb.memo import MAX_TEXT, Recent
from kb.rank import Searcher, answer_key, may_be_confident
from kb.regexguard import MAX_MATCH_CHARS, Scanner, compile_scanner
from kb.signals import OPENSSL_MARKERS
from kb.timestamps import iso

if TYPE_CHECKING:  # (not at run time: pydantic costs a diagnose process ~40 ms to import)
    from kb.model import Entry
    from kb.records import EntryRecord, HitRecord

MAX_LINE = 65536  # bytes of one line kept; the rest is dropped
# Bytes scanned at once: a 1 MB block of 2-byte lines was half a million picked spans at once
# (130 MB at peak for a log of 'x' lines, issue 18); a 64 KiB piece holds 32,768 at most.
SCAN_PIECE = 1 << 16
MAX_SAMPLE = 2000  # characters of a sample line kept in a problem
ANSWER_CACHE = 4096  # answers remembered, by answer key (bounded LRU)
MAX_VARIANTS = 50  # templates kept per entry
MAX_UNMATCHED = 500  # unmatched templates kept
MAX_PIDS = 4096  # processes whose open episodes are remembered
STARTUP_WINDOW = 50  # lines: a failed start's outcome lines (systemd's) after its cause
LINE_CACHE = 8192  # answers remembered by what search reads of a line (kb.memo)
OTHER_VARIANTS = ""  # the template of an entry's "other variants" problem
LOOSE = ("", "")  # the episode of un-prefixed lines in a row


class _Ranked:
    """A template in a heap that keeps the highest (rank, template) on top."""

    __slots__ = ("rank", "template")

    def __init__(self, rank: int, template: str) -> None:
        self.rank, self.template = rank, template

    def __lt__(self, other: _Ranked) -> bool:
        return (self.rank, self.template) > (other.rank, other.template)


def _rank(template: str) -> int:
    """The order in which templates are kept when there are too many: a stable hash."""
    return int.from_bytes(hashlib.blake2b(template.encode("utf-8", "replace"),
                                          digest_size=8).digest(), "big")


@dataclass
class Problem:
    """One problem: an entry and the template of the lines that point to it.

    The "other variants" problem of an entry (template ``""``) counts the lines of the
    templates beyond the kept ones. ``record`` is the entry as plain data (what the log pipe
    reads); ``entry`` builds the API's pydantic model from it on first use.
    """

    record: EntryRecord
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
    startup: bool = False  # the server failed to start (the episode held a start-up outcome)
    context: tuple[str, ...] = ()  # the other lines of the first occurrence's episode
    # occurrences per host: the line's own host (syslog, journald) or its source
    hosts: dict[str, int] = field(default_factory=dict)

    @property
    def entry(self) -> Entry:
        """The entry as the API's pydantic model (built once, on first use)."""
        return self.record.model()

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
        hosts = dict(self.hosts)
        for host, count in other.hosts.items():
            _count_host(hosts, host, count)
        return replace(
            first[0], count=self.count + other.count, level=worse,
            confidence=max(self.confidence, other.confidence),
            last_line=last[1].last_line, last_time=last[1].last_time,
            last_source=last[1].last_source, startup=self.startup or other.startup,
            hosts=hosts,
        )

    def as_json(self) -> dict[str, object]:
        """The NDJSON object of ``kb diagnose --json``."""
        return {
            "type": "problem",
            "id": self.record.id,
            "title": self.record.title,
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
            "where": f"{self.source or '-'}:{self.first_line}",
            "startup": self.startup,
            "context": list(self.context),
            "hosts": dict(sorted(self.hosts.items(), key=lambda item: (-item[1], item[0]))),
        }


MAX_HOSTS = 1000  # hosts counted by name per problem; the rest as OTHER_HOSTS
OTHER_HOSTS = "(other hosts)"


def _count_host(hosts: dict[str, int], host: str, count: int = 1) -> None:
    """Add occurrences of a host, keeping at most MAX_HOSTS names (the smallest name hashes,
    so that which ones are kept does not depend on order) and the rest in OTHER_HOSTS."""
    if host in hosts or len(hosts) < MAX_HOSTS + (OTHER_HOSTS in hosts):
        hosts[host] = hosts.get(host, 0) + count
        return
    named = [h for h in hosts if h != OTHER_HOSTS]
    worst = max(named, key=lambda h: (_rank(h), h))
    if (_rank(host), host) < (_rank(worst), worst):
        hosts[OTHER_HOSTS] = hosts.get(OTHER_HOSTS, 0) + hosts.pop(worst)
        hosts[host] = count
    else:
        hosts[OTHER_HOSTS] = hosts.get(OTHER_HOSTS, 0) + count


def _first_key(p: Problem) -> tuple[str, str, int, str]:
    """Earliest first: by time where the lines have one (ISO 8601), then by source and line."""
    return (_sortable(p.first_time), p.source, p.first_line, p.sample)


def _last_key(p: Problem) -> tuple[str, str, int, str]:
    return (_sortable(p.last_time), p.last_source, p.last_line, p.sample)


def _sortable(time: str) -> str:
    return time if time[:1].isdigit() else "~"  # ISO times sort; others after them


@dataclass
class Unmatched:
    """Error-looking lines of one template that got no confident answer."""

    template: str
    example: str
    count: int = 1
    first_line: int = 0
    source: str = ""

    def literals(self) -> list[str]:
        """The template's text between its placeholders (``<path>``, ``<num>`` ...), longest
        first: what every line of the template holds (a signature for a new entry)."""
        from kb.masks import PLACEHOLDER_RE

        runs = (run.strip() for run in PLACEHOLDER_RE.split(self.template))
        return sorted((run for run in runs if run), key=len, reverse=True)

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

    def shifted(self, lines: int) -> Diagnosis:
        """The same diagnosis with every line number ``lines`` higher (a later part of a log
        whose line numbers counted from 1)."""
        problems = [replace(p, first_line=p.first_line + lines, last_line=p.last_line + lines)
                    for p in self.problems]
        unmatched = [replace(u, first_line=u.first_line + lines) for u in self.unmatched]
        return replace(self, problems=problems, unmatched=unmatched)

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
        variants = self._by_entry.setdefault(problem.record.id, _Variants())
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
                                            p.record.id, p.template))


class _UnmatchedTable:
    """Unmatched templates, at most ``limit`` of them (smallest template hash first)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.other = 0
        self._kept: dict[str, Unmatched] = {}
        self._worst: list[_Ranked] = []  # a heap of the kept templates, worst (highest) first

    def add(self, item: Unmatched) -> None:
        known = self._kept.get(item.template)
        if known is not None:
            self._kept[item.template] = known.combined(item)
            return
        ranked = _Ranked(_rank(item.template), item.template)
        if len(self._kept) >= self.limit:
            if ranked < self._worst[0]:  # ranks after every kept one (heap order: worst first)
                self.other += item.count
                return
            worst = heapq.heappop(self._worst)
            self.other += self._kept.pop(worst.template).count
        self._kept[item.template] = item
        heapq.heappush(self._worst, ranked)

    def items(self) -> list[Unmatched]:
        return sorted(self._kept.values(), key=lambda u: (-u.count, u.source, u.first_line,
                                                          u.template))


class Diagnoser:
    """Incremental diagnosis: feed text or lines, collect problems as they are first seen."""

    def __init__(
        self, searcher: Searcher, *, collect_unmatched: bool = False, source: str = "",
        first_line: int = 1, max_variants: int = MAX_VARIANTS,
        max_unmatched: int = MAX_UNMATCHED, since: str = "", host: str = "",
    ) -> None:
        self._searcher = searcher
        self._since = since  # ISO 8601: lines with an earlier time are left out
        self._signals = searcher.signals
        self._collect = collect_unmatched
        self._scanners = self._make_scanners()
        self._answers: OrderedDict[Hashable, HitRecord | None] = OrderedDict()  # by answer key
        self._queries: OrderedDict[Hashable, HitRecord | None] = OrderedDict()  # by query key
        # by what search reads
        self._lines: Recent[Hashable, tuple[HitRecord | None]] = Recent(LINE_CACHE)
        self._table = _ProblemTable(max_variants)
        self._unmatched = _UnmatchedTable(max_unmatched)
        self._open: dict[tuple[str, str], Episode] = {}
        self._last_startup: tuple[Problem, bool] | None = None  # and: was the attempt over
        self._previous: tuple[tuple[str, str], int] | None = None  # the last line's episode
        self.source = source
        # The server problems are counted under (Problem.hosts) when a line names none.
        self.host = host or host_of(source)
        self.lines = 0
        self.candidates = 0
        self.matched = 0
        self._base = first_line - 1
        self._position = 0  # lines fed in every phase (line numbers count from first_line)
        # "count" (normal), or for a part of a larger log: "warm" (the lines before the part:
        # they set up the episodes of the processes that run into it, and count nothing) and
        # "drain" (the lines after it: they finish the part's own open episodes only).
        self.phase = "count"
        self._cutter = _LineCutter()

    def _make_scanners(self) -> list[Scanner]:
        """The prefilter's scanners first (``_signal_scanners`` of them: the lines a signal
        can come from), then those of outcome lines and, with --unmatched, error lines."""
        scanners = self._signals.prefilter()
        self._signal_scanners = len(scanners)
        scanners.append(compile_scanner("|".join(f"(?:{p})" for p in scanner_patterns())))
        if self._collect:
            scanners.append(compile_scanner(error_scan()))
        return scanners

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_scanners"] = None  # compiled RE2 objects: made again where unpickled
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scanners = self._make_scanners()

    # -- input -----------------------------------------------------------------------------

    def feed_bytes(self, data: bytes) -> list[Problem]:
        """Feed raw log bytes (any split; a trailing partial line waits for the rest).

        Bytes are scanned as they are: only the lines the prefilter picks are decoded
        (invalid UTF-8 becomes U+FFFD). A line longer than MAX_LINE bytes keeps its start.
        The problems returned are those first seen in an episode that has ended.
        """
        head = self._cutter.push(data)
        if len(head) <= SCAN_PIECE:
            return self._scan(head) if head else []
        new: list[Problem] = []
        start = 0
        while start < len(head):  # pieces of whole lines: the picked spans of one are few
            cut = head.find(b"\n", start + SCAN_PIECE - 1)
            stop = len(head) if cut < 0 else cut + 1
            new += self._scan(head[start:stop])
            start = stop
        return new

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
        """End of input: a pending partial line is complete, and every episode ends."""
        rest = self._cutter.rest()
        new = self._scan(rest + b"\n") if rest or self._cutter.ended else []
        return new + self.settle()

    def owns_open_episodes(self) -> bool:
        """True while an episode that began in the counted lines is still open."""
        return any(episode.owned for episode in self._open.values())

    def settle(self) -> list[Problem]:
        """End every open episode now (a live log that has gone quiet)."""
        new: list[Problem] = []
        for key in list(self._open):
            new += self._close(key)
        return new

    # -- scanning --------------------------------------------------------------------------

    def _scan(self, block: bytes) -> list[Problem]:
        base = self._base + self._position
        newline_count = block.count(b"\n")
        self._position += newline_count
        if self.phase == "count":
            self.lines += newline_count
        new: list[Problem] = []
        if b"\r\n" in block:  # CRLF line ends: the scanners' `$` matches before an LF only
            block = block.replace(b"\r\n", b"\n")
        # The scanners read the bytes the signatures will read as text: a byte that is not
        # UTF-8, and NUL, as U+FFFD (a line with a lone CR is matched again in _line).
        if b"\x00" in block:
            block = block.replace(b"\x00", "\ufffd".encode())
        if not block.isascii():
            try:
                block.decode("utf-8")
            except UnicodeDecodeError:
                block = block.decode("utf-8", "replace").encode("utf-8")
        counted, newlines = 0, 0
        for (start, end), signals in self._candidate_spans(block):
            newlines += block.count(b"\n", counted, start)  # incremental: linear per block
            counted = start
            raw = block[start : min(end, start + MAX_LINE)].decode("utf-8", "replace")
            new += self._line(raw.rstrip("\r"), base + newlines + 1, signals)
        now = self._base + self._position
        for key in [k for k, ep in self._open.items() if now - ep.last > WINDOW]:
            new += self._close(key)
        return new

    def _candidate_spans(self, block: bytes) -> list[tuple[tuple[int, int], bool]]:
        """((start, end), signals) of each line a scanner picks, in order; ``signals`` is
        False when no prefilter scanner picked it (then no signature can match it: the
        prefilter finds every line a signal could come from)."""
        scanners = self._scanners
        picked = [scanner.lines(block) for scanner in scanners]
        signal = _union(picked[: self._signal_scanners])
        other = _union(picked[self._signal_scanners :])
        if not other:
            return [(span, True) for span in signal]
        known = set(signal)
        # Each list is in order: one sort of their concatenation merges them (two runs).
        return sorted([(span, True) for span in signal]
                      + [(span, False) for span in other if span not in known])

    def _line(self, raw: str, number: int, signals: bool = True) -> list[Problem]:
        """Parse and answer one picked line and add it to its episode."""
        if not raw.strip():
            return []
        counting = self.phase == "count"
        self.candidates += counting
        line: ParsedLine | None = None
        if not signals and "\r" not in raw and len(raw) <= MAX_MATCH_CHARS:
            # No prefilter scanner picked it: no exact signal (the prefilter finds every line
            # one could come from), and a line with a prefix is log text (guess_kind), which
            # has no confident answer without one. Only its prefix and role matter (an
            # outcome line of an episode), and its template for --unmatched.
            line = parse_line(raw, template=self._collect)
            if not line.shapes:
                line = None  # read as search reads it: it may be a question
        if line is not None:
            hit, template = None, line.template
        elif "\r" in raw:  # a lone CR: search reads two lines, and so do we
            parsed = parse(raw)
            hit = self._answer(parsed, tuple(self._signals.line_hits(ln.raw)
                                             for ln in parsed.lines))
            line, template = parsed.lines[0], "\n".join(ln.template for ln in parsed.lines)
        else:
            hit, line = self._answer_line(raw, signals)
            template = line.template
        if self._since and (iso(line.fields.get("time", "")) or "~") < self._since:
            return []  # before --since
        if hit is not None:
            self.matched += counting
        return self._add(Seen(number, raw, line, hit, template, role_of(line)))

    def _answer_line(self, raw: str, signals: bool = True
                     ) -> tuple[HitRecord | None, ParsedLine]:
        """``search``'s confident answer for one line, remembered by what search reads of it:
        its shapes, level, peer, message and signals (or the whole line when it has no prefix, as a
        question is read by its words)."""
        line = raw[:MAX_LINE_CHARS]
        shapes, fields, message = strip_prefix(line)
        # A line no prefilter scanner picked has no signature match (signatures are matched
        # on its first MAX_MATCH_CHARS characters: a longer line is matched all the same).
        hits = (self._signals.line_hits(line) if signals or len(line) > MAX_MATCH_CHARS
                else ())
        text = message if shapes else raw
        key = (tuple(shapes), fields.get("level", ""), fields.get("peer", ""), text, hits)
        known = self._lines.get(key) if len(text) <= MAX_TEXT else None
        parsed_line = line_of(line, shapes, fields, message)
        if known is not None:
            return known[0], parsed_line
        parsed = Parsed(raw, Kind.LOG, [parsed_line])
        parsed.kind = guess_kind(raw, parsed.lines)
        hit = self._answer(parsed, (hits,))
        if len(text) <= MAX_TEXT:
            self._lines.put(key, (hit,))  # the answer only (in a tuple: it may be None)
        return hit, parsed_line

    def _answer(self, parsed: Parsed, line_hits: tuple[tuple[int, ...], ...]) -> HitRecord | None:
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
            answer = _cached(self._queries, query.key(),
                             lambda: self._searcher.best_record(query))
        _remember(self._answers, key, answer)
        return answer

    # -- episodes --------------------------------------------------------------------------

    def _add(self, seen: Seen) -> list[Problem]:
        if seen.hit is None and not seen.role.outcome:
            if self.phase == "count":
                self._note_unmatched(seen)  # no answer and no outcome: in no episode
            return []
        fields = seen.line.fields
        pid = fields.get("pid")
        if pid:
            key = (pid, fields.get("tid", ""))
        elif seen.line.shapes:
            key = ("", f"line {seen.number}")  # no process to group by: a line of its own
        elif (self._previous is not None and self._previous[0] in self._open
              and self._previous[0] is not LOOSE and seen.number - self._previous[1] <= 2):
            key = self._previous[0]  # what a process printed on stderr in its own log
        else:
            key = LOOSE
        self._previous = (key, seen.number)
        closed: list[Problem] = []
        if key is not LOOSE and LOOSE in self._open:
            closed += self._close(LOOSE)  # un-prefixed lines in a row have ended
        episode = self._open.get(key)
        if episode is not None and not episode.takes(seen):
            if not episode.answered and not self._collect and self.phase != "drain":
                # Ending it reports nothing (no line has an answer, none is collected):
                # the same object begins the next episode, last in the order of the open.
                del self._open[key]
                episode.restart(owned=self.phase == "count")
                self._open[key] = episode
            else:
                closed += self._close(key)
                episode = None
        if episode is None:
            if self.phase == "drain":
                return closed  # past the part: only its own open episodes go on
            if len(self._open) >= MAX_PIDS:
                closed += self._close(next(iter(self._open)))
            episode = self._open[key] = Episode(key, owned=self.phase == "count")
        if episode.add(seen) and episode.owned:  # a cause: count it now (the rest is context)
            episode.counted = problem = self._count(seen, episode)
            if problem.count == 1 and not problem.other_variants:
                closed.append(problem)
        if seen.role.ends or key[1].startswith("line "):
            if episode.answered or self._collect:
                closed += self._close(key)
            else:
                del self._open[key]  # ending it reports nothing
        return closed

    def _close(self, key: tuple[str, str]) -> list[Problem]:
        """End an episode: finish its counted problem, or count it under an outcome line."""
        episode = self._open.pop(key)
        cause = episode.resolve()
        if not episode.owned:  # it began before this part: the previous part counts it
            if cause is not None and cause.hit is not None and episode.startup:
                marker = Problem(cause.hit.entry, "", 0.0, "", cause.number, cause.number)
                self._last_startup = (marker, episode.final)
            return []
        if cause is None:
            for seen in episode.seen:
                self._note_unmatched(seen)
            return []
        assert cause.hit is not None  # noqa: S101 - resolve() returns a line with an answer
        if isinstance(episode.counted, Problem):
            self._finish(episode.counted, cause, episode)
            if episode.startup:
                self._last_startup = (episode.counted, episode.final)
            return []
        if episode.startup and self._last_startup is not None:
            last, finished = self._last_startup
            if cause.number - last.last_line <= STARTUP_WINDOW and not (
                    finished and episode.final):
                # More outcome lines of a failed start reported with its cause: systemd's
                # after apachectl's, or AH00016 after AH02580's own episode.
                last.startup = True
                self._last_startup = (last, finished or episode.final)
                return []
        problem = self._count(cause, episode)
        self._finish(problem, cause, episode)
        if episode.startup:
            self._last_startup = (problem, episode.final)
        return [problem] if problem.count == 1 and not problem.other_variants else []

    @staticmethod
    def _finish(problem: Problem, cause: Seen, episode: Episode) -> None:
        """What is known only at an episode's end: start-up failure, level, context."""
        problem.startup = problem.startup or episode.startup
        level = min((s.line.level for s in episode.seen), key=severity, default="")
        if severity(level) < problem.severity:
            problem.level = level
        if not problem.context and problem.first_line == cause.number:
            problem.context = tuple(c[:MAX_SAMPLE] for c in episode.context(cause))

    def _count(self, cause: Seen, episode: Episode) -> Problem:
        """Count one episode under its cause; the problem that holds it."""
        assert cause.hit is not None  # noqa: S101 - only lines with an answer are causes
        fields = cause.line.fields
        raw_time = fields.get("time", "")
        time = iso(raw_time) or raw_time
        level = cause.line.level
        host = fields.get("host") or self.host
        problem = self._table.find(cause.hit.entry.id, cause.template)
        if problem is not None:
            _count_host(problem.hosts, host)
            problem.count += 1
            problem.confidence = max(problem.confidence, cause.hit.confidence)  # as merge does
            # Episodes end in any order (a quiet process's episode ends late): keep the
            # earliest and the latest line, whatever order they are counted in.
            here = (_sortable(time), self.source, cause.number)
            if here < (_sortable(problem.first_time), problem.source, problem.first_line):
                problem.first_line, problem.first_time = cause.number, time
                problem.sample, problem.context = cause.raw[:MAX_SAMPLE], ()
                problem.source = self.source
            if here >= (_sortable(problem.last_time), problem.last_source, problem.last_line):
                problem.last_line, problem.last_source = cause.number, self.source
                problem.last_time = time
            problem.startup = problem.startup or episode.startup
            if severity(level) < problem.severity:
                problem.level = level
            return problem
        return self._table.add(Problem(
            cause.hit.entry, cause.template, cause.hit.confidence, cause.raw[:MAX_SAMPLE],
            cause.number, cause.number, 1, level, time, time, self.source, self.source,
            episode.startup, hosts={host: 1}))

    def _note_unmatched(self, seen: Seen) -> None:
        if not self._collect or not looks_like_error(seen.line):
            return
        self._unmatched.add(Unmatched(seen.template, seen.raw[:MAX_SAMPLE], 1, seen.number,
                                      self.source))

    # -- results ---------------------------------------------------------------------------

    def result(self) -> Diagnosis:
        """The diagnosis so far (episodes still open are not in it: see ``flush``)."""
        return Diagnosis(self._table.problems(), self._unmatched.items(), self.lines,
                         self.candidates, self.matched, self._unmatched.other,
                         self._table.max_variants, self._unmatched.limit)


def _cached(cache: OrderedDict[Hashable, HitRecord | None], key: Hashable,
            compute: Callable[[], HitRecord | None]) -> HitRecord | None:
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = compute()
    _remember(cache, key, value)
    return value


def _remember(cache: OrderedDict[Hashable, HitRecord | None], key: Hashable,
              value: HitRecord | None) -> None:
    cache[key] = value
    if len(cache) > ANSWER_CACHE:
        cache.popitem(last=False)


def _union(lists: list[list[tuple[int, int]]]) -> list[tuple[int, int]]:
    """The spans of several scanners, in order, each once (each list is in order)."""
    if len(lists) == 1:
        return lists[0]
    return sorted({span for spans in lists for span in spans})


def error_scan() -> str:
    """The scanner pattern of error-looking lines (``--unmatched``): at least every line
    ``kb.logline.looks_like_error`` accepts (error levels, error words, OpenSSL errors)."""
    levels = "|".join(sorted(ERROR_LEVELS))
    words = "|".join(w.replace(" ", r"\s+") for w in ERROR_WORDS)
    return (rf"[:\[](?:{levels})\]|\b(?:{words})\b|"
            + "|".join(f"(?:{m})" for m in OPENSSL_MARKERS))


_LONE_CR = re.compile(rb"\r(?=[^\n])")  # a CR line end, not half of a CRLF
LINE_END_WINDOW = 8192  # bytes at a stream's start that decide its line ends


class _LineCutter:
    """Cuts a byte stream, split anywhere, into whole lines. A line longer than MAX_LINE
    bytes keeps its start (ended with a newline); the rest of it is skipped.

    Lines end in LF (CRLF too: the CR is dropped later). A stream with no LF in its first
    LINE_END_WINDOW bytes but a CR there that is not part of a CRLF (classic Mac OS, some
    embedded devices) has CR line ends throughout (F11). The decision rests on those first
    bytes alone, however the stream is split, so a CR inside an LF line (a progress bar's
    redraw) stays in its line; until it is made (the first 8 KiB of a CR-only stream, or an
    LF) nothing is cut."""

    def __init__(self) -> None:
        self._pending = b""
        self._skipping = False
        self._cr: bool | None = None  # line ends: CR alone (True), LF (False), not known yet
        self._held_cr = False  # a CR ending the last push: maybe half of a CRLF
        self.ended = False  # after rest(): the last line had its line end (a CR)

    def _decide(self, head: bytes, final: bool) -> None:
        """Decide the line ends on the stream's first bytes (``head``: all of it so far)."""
        window = head[:LINE_END_WINDOW]
        if b"\n" in window:
            self._cr = False
        elif len(head) >= LINE_END_WINDOW or final:
            self._cr = _LONE_CR.search(window) is not None

    def _line_ends(self, data: bytes) -> bytes:
        """``data`` with CR line ends as LF, once the stream is known to use them."""
        if not self._cr:
            return data
        if self._held_cr:
            data = b"\r" + data
        self._held_cr = data.endswith(b"\r")
        if self._held_cr:
            data = data[:-1]
        return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

    def push(self, data: bytes) -> bytes:
        """The whole lines that ``data`` completes (b"" when none)."""
        if self._cr is None:
            self._decide(self._pending + data, final=False)
            if self._cr is None:  # no LF yet, too few bytes to say: wait (nothing to cut)
                self._pending += data
                return b""
            if self._cr:
                data, self._pending = self._pending + data, b""
        data = self._line_ends(data)
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
        """What is left at the end of input, without a last newline: the unfinished last line
        (or, for a short stream still undecided, its lines); ``ended`` then says whether that
        last line had a line end of its own (a CR)."""
        if self._cr is None and self._pending:
            self._decide(self._pending, final=True)
            if self._cr:
                data, self._pending = self._line_ends(self._pending), b""
                self._pending = data
        rest, self._pending, self._skipping = self._pending, b"", False
        self.ended, self._held_cr = self._held_cr, False
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
    if rest or lines.ended:
        yield (rest + b"\n" if lines.ended else rest).decode("utf-8", "replace")
