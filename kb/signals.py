"""Exact signals: AH codes, OpenSSL reasons and signature literals/regexes of every entry.

Built once per knowledge base. One list of patterns is the single source of "which text can
carry an exact signal": every literal signature (its words, any run of spaces between them)
and every regex signature. ``line_hits`` runs them all on one line in a single pass (an RE2
set), ``match`` turns a parsed input into the signals ranking uses, and ``prefilter`` joins the
same patterns (plus the markers of OpenSSL's packed and numbered forms and of question-like
lines) into the log pipe's block scanner, so a line the scanner skips can get no signal.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

from kb.logline import Kind, Parsed, names_an_error
from kb.openssl import canonical, find_errors, is_known_reason
from kb.records import SignatureKind, SignatureRecord
from kb.regexguard import (
    MAX_MATCH_CHARS,
    KeyIndex,
    PatternSet,
    compile_pattern,
    compile_scanner,
    escape,
    necessary_literals,
    scoped,
)
from kb.shapes.journald import ENCODED_MARKER
from kb.text import normalise

if TYPE_CHECKING:
    from kb.logline import ParsedLine

# Text that may hold an OpenSSL error whose reason is not spelled out (decoded by kb.openssl):
# packed codes (full form with an empty or numbered reason, bare hex, decimal), Python's
# [SSL: SYMBOL], pyOpenSSL's tuples, alert numbers and X.509 verify numbers. Each alternative
# accepts at least what its decoder pattern does (kb/openssl.py), so none is missed.
OPENSSL_MARKERS = (
    r"error:[0-9a-f]{8}:",
    r"\[[a-z][a-z0-9]{1,15}: [a-z][a-z0-9_]{2,80}\]",
    r"routines'",
    r"routines:",
    r"alert number [0-9]",
    r"error:num=[0-9]",
    r"verification: error \([0-9]",
    r"(?:^|[^\w:.])[0-9]{8,10}(?:$|[:\s\x0b])",  # RE2's \s has no \v; Python's ASCII \s has
    r"(?:^|[^\w:.\-])[0-9a-f]{8}(?:$|[^\w:.\-])",
)
# Lines that kb.logline may read as a question or a statement in words (see guess_kind): only
# those can be answered confidently without an exact signal. Each alternative accepts at least
# what guess_kind's tests do: a question word, a question mark after a word, a first-person
# word, a line of a few plain words, or a line without log punctuation (a statement: TEXT
# has none of [ ] { } < > = \ |).
QUESTION_MARKERS = (
    r"\b(?:how|what|why|where|when|which|who|help|explain|tell|list|show|i|i'm|i've|my|me|we"
    r"|our|us)\b",
    r"[^\s?]\?(?:\s|$)",
    r"^[^a-z0-9\[\n]*[a-z][a-z0-9-]*(?: [a-z][a-z0-9-]*){0,5}[^a-z0-9\n]*$",
    r"^[^\[\]{}<>=\\|\n]*$",
)
LITERALS_PER_SCANNER = 4000
REGEXES_PER_SCANNER = 64
_SPACE = r"[^\S\n]+"  # white space within a line (scanners never cross a line end)


class SignalKind(StrEnum):
    """What kind of exact signal pointed at an entry."""

    CODE = "code"
    REASON = "reason"
    SIGNATURE = "signature"
    TITLE = "title"  # the whole title (or a question phrasing) of an entry, found in a line
    QUOTE = "quote"  # an error message its answer quotes as code, found in a line


@dataclass(frozen=True)
class SignalHit:
    """One exact signal that points at one entry."""

    entry: int  # position in the entry list
    kind: SignalKind
    value: str
    signature: SignatureRecord | None = None
    number: int = field(default=0, compare=False)  # unique within one Signals' hits


@dataclass(frozen=True)
class _Pattern:
    entry: int
    signature: SignatureRecord
    regex: str  # RE2 syntax, matched case-insensitively anywhere in one line
    origin: str = ""  # "title" or "quote" (title_phrases, quoted_errors); "": a signature


class _Signed(Protocol):
    """An entry as Signals reads it (``kb.Entry`` or a record)."""

    @property
    def signatures(self) -> Sequence[Any]: ...
    @property
    def title(self) -> str: ...
    @property
    def questions(self) -> Sequence[str]: ...
    @property
    def answer(self) -> str: ...


# FAQs titled by error messages ("ERROR: unable to download video", "HTTP Error 429: Too Many
# Requests or 402: Payment Required") answer the line that prints them: the title and question
# phrasings of an entry without signatures are literal signals too, when specific enough.
TITLE_MIN_WORDS = 3
TITLE_MIN_CHARS = 12
_WORDS = re.compile(r"[A-Za-z0-9]+")


def title_phrases(entry: _Signed) -> list[str]:
    """The phrases of an entry's title and questions that act as literal signals: each without
    its closing punctuation, titles of alternatives ("A or B") split in two, each of at least
    TITLE_MIN_WORDS words and TITLE_MIN_CHARS characters. None for an entry with signatures:
    its author has said which error strings it answers (and a search then need not compile
    hundreds of phrasings into the signal set)."""
    if entry.signatures:
        return []
    found: list[str] = []
    for text in (entry.title, *entry.questions):
        text = text.strip().rstrip("?!.:;, ").strip("`*_ ")
        parts = re.split(r"\s+or\s+", text)
        if len(parts) == 1 or not all(_long_enough(p) for p in parts):
            parts = [text]
        found += [p for p in parts if _long_enough(p) and p not in found]
    return found


def _long_enough(phrase: str) -> bool:
    return len(_WORDS.findall(phrase)) >= TITLE_MIN_WORDS and len(phrase) >= TITLE_MIN_CHARS


# An answer that quotes an error message as code ("`freqtrade: command not found` means ...",
# "`x509: certificate signed by unknown authority` may occur on outdated systems") says that
# it answers the line printing it: for an entry without signatures, such a quote is a literal
# signal too. Only inline code outside fenced blocks (a fence holds commands, configuration and
# whole sessions), only when it names an error (kb.logline.names_an_error) and is as long as a
# title phrase, and never a command, setting or code: no option flag, prompt, operator, call
# or "key:value".
_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
# A code span: a run of backticks, then at most QUOTE_MAX_CHARS characters on at most two
# lines, then a run of the same length (so an unclosed run costs a bounded look ahead).
QUOTE_MAX_CHARS = 300
_CODE_SPAN = re.compile(rf"(?<!`)(`+)(?!`)([^\n]{{1,{QUOTE_MAX_CHARS}}}?"
                        rf"(?:\n[^\n]{{0,{QUOTE_MAX_CHARS}}}?)?)(?<!`)\1(?!`)")
_NOT_A_MESSAGE = re.compile(r"(?:^|\s)--?[A-Za-z]|^\s*[$#>]|[=;{}|<>]|\w\(|\w:\S")


def quoted_errors(entry: _Signed) -> list[str]:
    """The error messages an entry's answer quotes as inline code (see above), in order, each
    once; none for an entry with signatures (its author has said which strings it answers)."""
    if entry.signatures:
        return []
    found: list[str] = []
    for match in _CODE_SPAN.finditer(_outside_fences(entry.answer)):
        text = " ".join(match.group(2).split()).strip("` ").rstrip(".:;, ")
        if (_long_enough(text) and not _NOT_A_MESSAGE.search(text) and names_an_error(text)
                and text not in found):
            found.append(text)
    return found


def _outside_fences(markdown: str) -> str:
    """The lines of ``markdown`` outside fenced code blocks (an unclosed fence runs to the
    end, as CommonMark reads it)."""
    kept: list[str] = []
    fence = ""
    for line in markdown.split("\n"):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1)[0] == fence[0] and len(opening.group(1)) >= len(
                    fence) and not line[opening.end():].strip():
                fence = ""
        elif opening and not (opening.group(1)[0] == "`" and "`" in line[opening.end():]):
            fence = opening.group(1)
        else:
            kept.append(line)
    return "\n".join(kept)


@dataclass
class SignalTable:
    """The exact-signal tables of a collection as plain data, one row per signature.

    Built with the index and kept in the cache (``as_data``), so opening a collection of
    100,000 entries builds no signal object: hits are made when a query first needs them.
    """

    entries: list[int]  # the entry position of each signature
    kinds: list[str]
    texts: list[str]
    lines: list[int]
    versions: list[str]
    regexes: list[str]
    keys: dict[str, Any]  # KeyIndex data: the chunk(s) a literal's matches hold (_key_choices)
    origins: list[str]  # "title" (title_phrases), "quote" (quoted_errors), "": a signature
    codes: dict[str, list[int]]  # AH code -> entry positions
    reasons: dict[str, list[int]] | None = None  # OpenSSL reason -> entries (None: not yet)
    peers: list[str] = field(default_factory=list)  # each signature's peer note ("": any)
    # A regex signature's necessary literals (the prefilter scans for them), made with the
    # index: reading a pattern with Python's parser costs ~1 ms, too much for every start.
    # None for a literal, and for a regex without such literals (it is scanned for itself).
    atoms: list[list[str] | None] = field(default_factory=list)

    @classmethod
    def of(cls, entries: Sequence[_Signed], reasons: bool = False) -> SignalTable:
        """The table of these entries: every signature, then every title phrase and quoted
        error (with the OpenSSL reason table, if asked: that needs OpenSSL's tables)."""
        table = cls([], [], [], [], [], [], {}, [], {})
        codes: dict[str, list[int]] = defaultdict(list)
        for position, entry in enumerate(entries):
            for signature in entry.signatures:
                if not signature.peer:  # a peer-scoped signature counts on its side only
                    for code in _ah_codes(signature.text):
                        _append_once(codes, code, position)
                table._add(position, signature, "")
        for position, entry in enumerate(entries):
            titles = title_phrases(entry)
            for phrase in titles:
                table._add(position, SignatureRecord(SignatureKind.LITERAL, phrase), "title")
            for quote in quoted_errors(entry):
                if quote not in titles:
                    table._add(position, SignatureRecord(SignatureKind.LITERAL, quote), "quote")
        table._choose_keys()
        table.codes = dict(codes)
        if reasons:
            table.reasons = Signals(table=table).reasons
        return table

    def _add(self, position: int, signature: Any, origin: str) -> None:
        self.entries.append(position)
        self.kinds.append(str(signature.kind.value))
        self.texts.append(signature.text)
        self.lines.append(signature.line)
        self.versions.append(signature.versions)
        self.regexes.append(_regex_of(signature))
        self.origins.append(origin)
        self.peers.append(signature.peer)
        regex = signature.kind is SignatureKind.REGEX
        self.atoms.append(necessary_literals(signature.text) if regex else None)

    def _choose_keys(self) -> None:
        """Each literal's key: of the chunks any of its matches holds (``_key_choices``),
        the one fewest other rows could use too (the fewest candidates a line can name)."""
        choices = [_key_choices(kind, text) for kind, text in zip(self.kinds, self.texts,
                                                                   strict=True)]
        counts = Counter(key for keys in choices for key in set(keys))
        self.keys = KeyIndex.of([min(keys, key=lambda k: (counts[k], -len(k))) if keys else ""
                                 for keys in choices]).as_data()

    @classmethod
    def joined(cls, tables: Sequence[SignalTable], sizes: Sequence[int]) -> SignalTable:
        """The tables of collections side by side (``sizes``: their numbers of entries), as
        the table of all their entries one after the other; an entry's rows keep their
        order, and codes and reasons list entries in order."""
        if len(tables) == 1:
            return tables[0]
        out = cls([], [], [], [], [], [], {}, [], {})
        out.keys = KeyIndex.joined([KeyIndex.from_data(t.keys) for t in tables],
                                   [len(t.regexes) for t in tables]).as_data()
        reasons: dict[str, list[int]] = {}
        start = 0
        for table, size in zip(tables, sizes, strict=True):
            out.entries += [start + e for e in table.entries]
            for name in ("kinds", "texts", "lines", "versions", "regexes", "origins", "peers",
                         "atoms"):
                getattr(out, name).extend(getattr(table, name))
            for code, positions in table.codes.items():
                out.codes.setdefault(code, []).extend(start + e for e in positions)
            for reason, positions in Signals(table=table).reasons.items():
                reasons.setdefault(reason, []).extend(start + e for e in positions)
            start += size
        out.reasons = reasons
        return out

    def as_data(self) -> dict[str, Any]:
        """Plain data (lists, dicts, str, int) for the index cache."""
        return dict(self.__dict__)

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> SignalTable:
        """``as_data``'s inverse."""
        return cls(**data)


class Signals:
    """The exact-signal tables of a list of entries."""

    def __init__(self, entries: Sequence[_Signed] = (), *, table: SignalTable | None = None
                 ) -> None:
        self._table = table if table is not None else SignalTable.of(entries)
        self.codes = self._table.codes
        if self._table.reasons is not None:
            self.__dict__["reasons"] = self._table.reasons  # the cached property, made
        count = len(self._table.regexes)
        literal = SignatureKind.LITERAL.value
        self._literal = [kind == literal for kind in self._table.kinds]
        # the signatures with a peer note (any: some line's numbers are checked for its side)
        self._peered = frozenset(i for i, peer in enumerate(self._table.peers) if peer)
        self._scoped = bool(self._peered)
        # Hits are made on first use; numbers as if all were made in table order: patterns
        # first, then every code's hits, then every reason's.
        self._pattern_hits: dict[int, SignalHit] = {}
        self._code_hits: dict[str, list[SignalHit]] = {}
        self._code_base: dict[str, int] = {}
        number = count + 1
        for code, positions in self.codes.items():
            self._code_base[code] = number
            number += len(positions)
        self._reason_start = number

    @cached_property
    def patterns(self) -> list[_Pattern]:
        """Every signature as a pattern, in table order."""
        t = self._table
        return [_Pattern(t.entries[i], self._signature(i), t.regexes[i], t.origins[i])
                for i in range(len(t.regexes))]

    def _signature(self, i: int) -> SignatureRecord:
        t = self._table
        return SignatureRecord(SignatureKind(t.kinds[i]), t.texts[i], t.lines[i], t.versions[i],
                               t.peers[i])

    @cached_property
    def _set(self) -> PatternSet:
        texts = self._table.texts
        return PatternSet(self._table.regexes, lambda: [_fallback(p) for p in self.patterns],
                          KeyIndex.from_data(self._table.keys), lambda i: normalise(texts[i]))

    def _pattern_hit(self, i: int) -> SignalHit:
        hit = self._pattern_hits.get(i)
        if hit is None:
            signature = self._signature(i)
            origin = self._table.origins[i]
            kind = SignalKind(origin) if origin else SignalKind.SIGNATURE
            hit = self._pattern_hits[i] = SignalHit(self._table.entries[i], kind,
                                                    signature.text, signature, i)
        return hit

    def _hits_of_code(self, code: str) -> list[SignalHit]:
        hits = self._code_hits.get(code)
        if hits is None:
            base = self._code_base.get(code)
            if base is None:  # a code no entry knows (logs hold many)
                return []
            hits = self._code_hits[code] = [SignalHit(e, SignalKind.CODE, code, None, base + k)
                                            for k, e in enumerate(self.codes[code])]
        return hits

    @cached_property
    def _reason_hits(self) -> dict[str, list[SignalHit]]:
        number = self._reason_start
        made = {}
        for reason, positions in self.reasons.items():
            made[reason] = [SignalHit(e, SignalKind.REASON, reason, None, number + k)
                            for k, e in enumerate(positions)]
            number += len(positions)
        return made

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_set", None)  # RE2 objects: made again on first use where unpickled
        state.pop("_prefilter", None)
        return state

    @cached_property
    def reasons(self) -> dict[str, list[int]]:
        """OpenSSL reason -> entries, from literal signatures that are or contain an OpenSSL
        error. Built on first use: it needs OpenSSL's tables, which only a query or log that
        itself holds an OpenSSL error needs too (a warm start saves loading them)."""
        table: dict[str, list[int]] = {}
        for p in self.patterns:
            if p.signature.kind is not SignatureKind.LITERAL or p.origin or p.signature.peer:
                continue
            reasons = [e.reason for e in find_errors(p.signature.text)]
            text = normalise(p.signature.text)
            if not reasons and is_known_reason(text):
                reasons = [canonical(text)]
            for reason in reasons:
                _append_once(table, reason, p.entry)
        return table

    def line_hits(self, line: str) -> tuple[int, ...]:
        """The patterns (signature numbers) that match one line, cut to MAX_MATCH_CHARS."""
        return self._set.match(line[:MAX_MATCH_CHARS]) if self._literal else ()

    def match(self, parsed: Parsed, line_hits: Sequence[tuple[int, ...]] | None = None
              ) -> list[SignalHit]:
        """Every (entry, signal) that a parsed input points to: its AH codes, its decoded
        OpenSSL reasons (and literal signatures found in them) and the signatures matching
        any of its lines. ``line_hits`` (one tuple per line) spares matching them again."""
        hits: list[SignalHit] = []
        for code in parsed.ah_codes:
            hits += self._hits_of_code(code)
        reasons = parsed.reasons
        if reasons:  # (only touches the reason table when there are reasons)
            for reason in reasons:
                hits += self._reason_hits.get(reason, ())
        per_line = line_hits if line_hits is not None else [
            self.line_hits(line.raw) for line in parsed.lines]
        if self._scoped:
            per_line = [self._on_side(numbers, line) for numbers, line
                        in zip(per_line, parsed.lines, strict=True)]
        if reasons:
            found = {i for numbers in per_line for i in numbers}
            found.update(i for i in self._set.match("\n".join(reasons))
                         if self._literal[i] and not self._table.peers[i])
            numbers = sorted(found)
        elif len(per_line) == 1:
            numbers = list(per_line[0])
        else:
            numbers = sorted({i for numbers in per_line for i in numbers})
        hits += [self._pattern_hit(i) for i in numbers]
        return hits

    def context(self, parsed: Parsed, hits: Sequence[SignalHit]) -> frozenset[int]:
        """The numbers of the ``hits`` that only lines reporting an outcome gave, when other
        lines of the same input gave signals too (empty for one line).

        A pasted excerpt of a failed start holds the cause (``AH02572: Failed to configure at
        least one certificate and key``, ``AH02407: "SSLOpenSSLConfCmd ..." failed``) and the
        lines that only say that start-up failed (``AH02311: Fatal error initialising
        mod_ssl``, ``AH00016: Configuration Failed``, ``Action 'start' failed.``:
        kb/data/httpd_outcomes.tsv, from httpd's sources). ``kb diagnose`` reports such an
        episode under its cause (kb.episodes); ranking the excerpt counts the outcome lines'
        signals as context too (kb.rank), so both name the same problem.
        """
        if len(parsed.lines) < 2 or not hits:
            return frozenset()
        from kb.episodes import role_of  # (kb.episodes reads kb.logline, as this module does)

        outcome = [role_of(line).outcome for line in parsed.lines]
        if not any(outcome) or all(outcome):
            return frozenset()
        causes = {h.number for line, only_outcome in zip(parsed.lines, outcome, strict=True)
                  if not only_outcome for h in self.match(Parsed(line.raw, Kind.LOG, [line]))}
        given = {h.number for h in hits}
        if not causes & given:
            return frozenset()
        return frozenset(given - causes)

    def _on_side(self, numbers: tuple[int, ...], line: ParsedLine) -> tuple[int, ...]:
        """The signatures of ``numbers`` that count on this line: a signature with a peer
        note counts on the lines of that side only (``is_remote``)."""
        if self._peered.isdisjoint(numbers):
            return numbers
        peers, side = self._table.peers, "remote" if is_remote(line) else "client"
        return tuple(i for i in numbers if peers[i] in ("", side))

    def prefilter(self) -> list[Any]:
        """A new list of the ``_prefilter`` scanners (made once per Signals)."""
        return list(self._prefilter)

    @cached_property
    def _prefilter(self) -> tuple[Any, ...]:
        """Scanners over raw log bytes that together find every line a signal could come from.

        Lines none of them matches get no exact signal and are no question, so no confident
        answer: the log pipe skips them without decoding them. Literal-like patterns share
        one scanner (RE2 turns them into one fast automaton). A regex signature is scanned
        for by literals every match of it holds (``necessary_literals``), so it costs no pass
        of its own; one without such literals goes in a small group of its own, since a few
        wildcards joined with hundreds of literals make the automaton explode and RE2 fall
        back to a slow engine.
        """
        literal = [p.regex for p in self.patterns if p.signature.kind is SignatureKind.LITERAL]
        literal += [rf"\b{code}\b" for code in self.codes]
        literal += [literal_regex(reason) for reason in self.reasons]
        literal += list(OPENSSL_MARKERS + QUESTION_MARKERS)
        # A regex signature is found by what every match of it holds, when it has such
        # literals (one scanner pass less); the rest go in groups of their own.
        literal.append(ENCODED_MARKER)  # journald lines whose bytes are not their text
        regexes: list[str] = []
        for pattern, atoms in zip(self.patterns, self._table.atoms, strict=True):
            if pattern.signature.kind is SignatureKind.REGEX:
                if atoms is None:  # one of an alternation: its flags its own
                    regexes.append(scoped(pattern.regex))
                else:
                    literal += [escape(atom) for atom in atoms]
        groups = [literal[i : i + LITERALS_PER_SCANNER]
                  for i in range(0, len(literal), LITERALS_PER_SCANNER)]
        groups += [regexes[i : i + REGEXES_PER_SCANNER]
                   for i in range(0, len(regexes), REGEXES_PER_SCANNER)]
        return tuple(compile_scanner("|".join(f"(?:{part})" for part in group))
                     for group in groups)


def is_remote(line: ParsedLine) -> bool:
    """True for a line httpd logged about the backend mod_proxy connected to (its prefix says
    ``[remote HOST:PORT]``), False for any other (``[client ...]``, or no peer at all)."""
    return line.fields.get("peer", "").lower() == "remote"


def _ah_codes(text: str) -> list[str]:
    from kb.logline import ah_numbers

    return ["AH" + code for code in ah_numbers(text)]


def _regex_of(signature: Any) -> str:
    if signature.kind is SignatureKind.REGEX:
        return signature.text
    return literal_regex(signature.text)


def _key_choices(kind: str, text: str) -> list[str]:
    """The chunks every match of a literal signature holds whole (PatternSet's keys): two
    of its inner words in a row (white space on both sides of each in any match), else one,
    ASCII only (so folding them as RE2 does is plain lower case); none for regexes and
    literals of one or two words."""
    if kind != SignatureKind.LITERAL.value:
        return []
    inner = [w for w in normalise(text).split(" ") if w][1:-1]
    pairs = [f"{a} {b}" for a, b in zip(inner, inner[1:], strict=False)
             if a.isascii() and b.isascii()]
    return pairs or [w for w in inner if w.isascii()]


def literal_regex(text: str) -> str:
    """A literal as a regex: its words in order, any white space between them."""
    from kb.regexguard import escape

    return _SPACE.join(escape(word) for word in normalise(text).split(" ") if word)


def _fallback(p: _Pattern) -> Any:
    """The pattern for matching without RE2: a folded literal, or the compiled regex."""
    if p.signature.kind is SignatureKind.LITERAL:
        return normalise(p.signature.text)
    return compile_pattern(p.signature.text)


def _append_once(table: dict[str, list[int]], key: str, position: int) -> None:
    bucket = table.setdefault(key, [])
    if position not in bucket:
        bucket.append(position)
