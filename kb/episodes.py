"""Episodes: the lines of one connection or one start-up attempt, reported under their cause.

httpd logs a failed TLS connection as several lines of one worker (same pid and tid):
``AH01964 Connection ... established``, ``AH02008 SSL library error 1 in handshake``,
``SSL Library Error: ...:tlsv1 alert unknown ca``, ``AH01998 Connection closed ... with
abortive shutdown``. Only one says why. A failed start is the same: ``AH02580 Pass phrase
incorrect``, fifteen lines of OpenSSL's error queue, ``AH02311``, ``AH02564``, ``AH00016
Configuration Failed``. An episode collects such lines and is reported once, under its most
specific line:

- lines that only report an outcome (kb/data/httpd_outcomes.tsv, from httpd's sources) are
  context when the episode holds anything else;
- otherwise the first line with an answer is the cause, and OpenSSL's error-queue lines after
  it (lines with an OpenSSL error and no httpd code: httpd dumps the queue after its own
  message) are context too;
- a second line with its own cause starts a new episode: two 404s of one worker thread are two
  occurrences, not one.

An episode is keyed by the process and thread that wrote it (pid and tid from the prefix);
lines without a prefix (what ``apachectl start`` prints on a terminal) form one episode while
they come one after another. It ends at a line that ends one (``AH01998``, ``AH00016``,
apachectl's last line ...), when the process starts another (``AH01964``), or when the process
writes nothing more for WINDOW lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from kb.logline import ParsedLine
from kb.memo import MAX_TEXT, Recent

TYPE_CHECKING = False
if TYPE_CHECKING:  # (not at run time: pydantic costs a diagnose process ~40 ms to import)
    from kb.records import HitRecord

DATA = Path(__file__).resolve().parent / "data" / "httpd_outcomes.tsv"
WINDOW = 64  # lines: a process silent for longer has finished its episode
MAX_LINES = 64  # lines of one episode kept (a longer one is closed and a new one begun)
MAX_CONTEXT = 6  # context lines a problem keeps for the report


@dataclass(frozen=True)
class Role:
    """What a line does in its episode (kb/data/httpd_outcomes.tsv)."""

    outcome: bool = False  # it reports an outcome, not a cause
    begins: bool = False
    announces: bool = False
    ends: bool = False
    startup: bool = False
    final: bool = False


PLAIN = Role()


@dataclass(frozen=True)
class _Outcomes:
    codes: dict[str, Role]
    literals: tuple[tuple[str, Role], ...]
    patterns: tuple[tuple[re.Pattern[str], Role], ...]


@cache
def outcomes() -> _Outcomes:
    """The outcome table, read once."""
    codes: dict[str, Role] = {}
    literals: list[tuple[str, Role]] = []
    patterns: list[tuple[re.Pattern[str], Role]] = []
    for line in DATA.read_text(encoding="utf-8").splitlines()[1:]:
        if not line.strip() or line.startswith(("#", "match\t")):
            continue
        match, flags, _source = (line.split("\t") + ["", ""])[:3]
        names = set(flags.split(","))
        role = Role(True, "begins" in names, "announces" in names, "ends" in names,
                    "startup" in names, "final" in names)
        if re.fullmatch(r"AH\d{5}", match):
            codes[match] = role
        elif match.startswith("re:"):
            patterns.append((re.compile(match[3:]), role))
        else:
            literals.append((match, role))
    return _Outcomes(codes, tuple(literals), tuple(patterns))


def role_of(line: ParsedLine) -> Role:
    """The role of one parsed line: the merged flags of every outcome it matches (a pure
    function of its message and codes, remembered (kb.memo) for about the last ROLE_CACHE
    messages of at most MAX_TEXT characters: in a log the same message comes back under ever
    new times, pids and clients)."""
    if len(line.message) > MAX_TEXT:
        return _role_of(line)
    key = (line.message, tuple(line.ah_codes))
    known = _roles.get(key)
    if known is None:
        known = _role_of(line)
        _roles.put(key, known)
    return known


ROLE_CACHE = 16384
_roles: Recent[tuple[str, tuple[str, ...]], Role] = Recent(ROLE_CACHE)


def _role_of(line: ParsedLine) -> Role:
    table = outcomes()
    found = [table.codes[c] for c in line.ah_codes if c in table.codes]
    message = line.message
    # (a substring test per literal is faster than one search of their alternation)
    found += [role for literal, role in table.literals if literal in message]
    found += [role for pattern, role in table.patterns if pattern.search(message)]
    if not found:
        return PLAIN
    return _merged(not line.ah_codes or all(c in table.codes for c in line.ah_codes),
                   tuple(found))


@lru_cache(maxsize=1024)
def _merged(outcome: bool, found: tuple[Role, ...]) -> Role:
    """The role of a line that matches these outcomes (few distinct combinations; bounded,
    since a hostile line can name any set of codes)."""
    return Role(outcome, *(any(getattr(r, flag) for r in found)
                           for flag in ("begins", "announces", "ends", "startup", "final")))


def scanner_patterns() -> list[str]:
    """Regexes (for the log pipe's scanners) that find every outcome line."""
    from kb.signals import literal_regex

    table = outcomes()
    parts = [rf"\b{code}\b" for code in table.codes]
    parts += [literal_regex(literal) for literal, _ in table.literals]
    parts += [pattern.pattern.lstrip("^").rstrip("$") for pattern, _ in table.patterns]
    return parts


def is_queue_line(line: ParsedLine) -> bool:
    """A line of OpenSSL's error queue: an OpenSSL error and no httpd code of its own."""
    return bool(line.openssl) and not line.ah_codes


@dataclass(slots=True)
class Seen:
    """One picked line in its episode."""

    number: int
    raw: str
    line: ParsedLine
    hit: HitRecord | None
    template: str
    role: Role


@dataclass(slots=True)
class Episode:
    """The open lines of one process (or of the un-prefixed lines in a row)."""

    key: tuple[str, str]
    owned: bool = True  # False: it began before the part of the log being diagnosed
    seen: list[Seen] = field(default_factory=list)
    cause: int | None = None  # index in seen
    startup: bool = False
    final: bool = False  # holds the end of a start attempt
    counted: object = None  # the problem its cause was counted in (kb.diagnose)
    answered: bool = False  # some line has an answer (else ending it reports nothing)

    @property
    def last(self) -> int:
        """The number of its last line."""
        return self.seen[-1].number

    def takes(self, item: Seen) -> bool:
        """False when ``item`` must begin an episode of its own instead."""
        if not self.seen:
            return True
        if item.role.begins or item.number - self.last > WINDOW or len(self.seen) >= MAX_LINES:
            return False
        if (item.role.announces and self.cause is not None
                and "client" not in self.seen[self.cause].line.fields):
            # A new failure of the same process, announced (at start-up: a warning such as
            # AH01906, then AH02562 and its error queue). A connection's verify error
            # (AH02276 [client ...]) and its AH02008 are one failure.
            return False
        # A second line with an answer of its own is a second event; but after an httpd line of
        # a process comes OpenSSL's error queue, which says more of the same failure. Two
        # queue lines with no httpd line before them that answer differently are two
        # failures (issue 18, F10: 0A0000C1 then 0A00018C of one thread were one problem).
        queue = is_queue_line(item.line) and self.key[0] != ""
        if queue and self.cause is not None and item.hit is not None:
            cause = self.seen[self.cause]
            if (not any(s.line.ah_codes for s in self.seen)
                    and cause.hit is not None and cause.hit.entry.id != item.hit.entry.id):
                queue = False
        second_cause = (item.hit is not None and not item.role.outcome
                        and self.cause is not None and not queue)
        return not second_cause

    def restart(self, owned: bool) -> None:
        """Begin again, empty: as a new Episode of the same key (``key`` and ``owned``)."""
        self.owned = owned
        self.seen = []
        self.cause, self.counted = None, None
        self.startup = self.final = self.answered = False

    def add(self, item: Seen) -> bool:
        """Add a line; True when it becomes the cause (the first specific line with an
        answer: once there is one, it stays)."""
        self.seen.append(item)
        if item.hit is not None:
            self.answered = True
        self.startup = self.startup or item.role.startup
        self.final = self.final or item.role.final
        if item.hit is not None and not item.role.outcome and self.cause is None:
            self.cause = len(self.seen) - 1
            return True
        return False

    def resolve(self) -> Seen | None:
        """The line the episode is reported under (None: no line has an answer)."""
        if self.cause is not None:
            return self.seen[self.cause]
        return next((s for s in self.seen if s.hit is not None), None)

    def context(self, cause: Seen) -> tuple[str, ...]:
        """The other lines of the episode (the first MAX_CONTEXT), for the report."""
        return tuple(s.raw for s in self.seen if s is not cause)[:MAX_CONTEXT]
