"""Exact signals: AH codes, OpenSSL reasons and signature literals/regexes of every entry.

Built once per knowledge base. ``match`` looks at one text and says which entries it points to
and through which signal; it never consults the full-text index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from kb.logline import AH_RE
from kb.model import Entry, Signature, SignatureKind
from kb.openssl import canonical, find_errors, is_known_reason
from kb.regexguard import MAX_MATCH_CHARS, Matcher, compile_pattern, compile_scanner, literal_runs
from kb.text import normalise
from kb.trie import trie_regex

# Markers of OpenSSL forms whose reason text is not spelled out in the line itself.
_OPENSSL_MARKERS = r"alert number \d|\[ssl: |verify error:num=|verification: error \("


@dataclass(frozen=True)
class SignalHit:
    """One exact signal that points at one entry."""

    entry: int  # position in the entry list
    kind: str  # "code" | "reason" | "signature"
    value: str
    signature: Signature | None = None


@dataclass(frozen=True)
class _Literal:
    entry: int
    text: str
    signature: Signature


@dataclass(frozen=True)
class _Regex:
    entry: int
    pattern: Matcher
    signature: Signature


class Signals:
    """The exact-signal tables of a list of entries."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.codes: dict[str, list[int]] = defaultdict(list)
        self.literals: list[_Literal] = []
        self.regexes: list[_Regex] = []
        for position, entry in enumerate(entries):
            for signature in entry.signatures:
                self._add(position, signature)
        self.codes = dict(self.codes)

    def _add(self, position: int, signature: Signature) -> None:
        for code in AH_RE.findall(signature.text):
            _append_once(self.codes, "AH" + code, position)
        if signature.kind is SignatureKind.REGEX:
            compiled = compile_pattern(signature.text)
            self.regexes.append(_Regex(position, compiled, signature))
            return
        self.literals.append(_Literal(position, normalise(signature.text), signature))

    @cached_property
    def reasons(self) -> dict[str, list[int]]:
        """OpenSSL reason -> entries, from literal signatures that are or contain an OpenSSL
        error. Built on first use: it needs OpenSSL's tables, which only a query or log that
        itself holds an OpenSSL error needs too (a warm start saves loading them)."""
        table: dict[str, list[int]] = {}
        for lit in self.literals:
            reasons = [e.reason for e in find_errors(lit.signature.text)]
            if not reasons and is_known_reason(lit.text):
                reasons = [canonical(lit.text)]
            for reason in reasons:
                _append_once(table, reason, lit.entry)
        return table

    def prefilter(self) -> Matcher:
        """One regex over lower-cased text that finds every line an exact signal could match.

        Lines it does not match cannot get an exact signal, so the log pipe skips them without
        parsing. Regex signatures contribute their longest literal run (when it has 4+ chars).
        """
        words = {code.lower() for code in self.codes}
        words.update(lit.text for lit in self.literals)
        words.update(self.reasons)
        for rx in self.regexes:
            runs = [r for r in literal_runs(rx.signature.text) if len(r) >= 4]
            if runs:
                words.add(normalise(max(runs, key=len)))
        return compile_scanner(f"{trie_regex(sorted(words))}|{_OPENSSL_MARKERS}")

    def match(self, text: str, codes: Sequence[str], reasons: Sequence[str]) -> list[SignalHit]:
        """Every (entry, signal) that ``text`` with these codes and decoded reasons points to."""
        hits: list[SignalHit] = []
        for code in codes:
            hits.extend(SignalHit(e, "code", code) for e in self.codes.get(code, ()))
        for reason in reasons:  # (only touches the reason table when there are reasons)
            hits.extend(SignalHit(e, "reason", reason) for e in self.reasons.get(reason, ()))
        bounded = encodable(text[:MAX_MATCH_CHARS])
        folded = normalise(bounded) + "\n" + "\n".join(reasons)
        for lit in self.literals:
            if lit.text in folded:
                hits.append(SignalHit(lit.entry, "signature", lit.signature.text, lit.signature))
        for rx in self.regexes:
            if rx.pattern.search(bounded):
                hits.append(SignalHit(rx.entry, "signature", rx.signature.text, rx.signature))
        return hits


def _append_once(table: dict[str, list[int]], key: str, position: int) -> None:
    bucket = table.setdefault(key, [])
    if position not in bucket:
        bucket.append(position)


def encodable(text: str) -> str:
    """``text`` with lone surrogates replaced (RE2 works on UTF-8), same length."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text
