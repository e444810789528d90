"""Query building, scoring, confidence and explanation.

A query is built apart from running it (``build_query`` / ``run``) so ``kb explain`` can show it.
Score = exact signals (signature > AH code > OpenSSL reason) + BM25F over the analysed text.
Confidence maps that to 0..1: exact signals give high confidence; text alone gives confidence
by how much of the query's weight the entry covers, lowered for log lines (an unexplained log
line is usually noise) and capped where the line itself says it is routine.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kb.logline import QUIET_LEVELS, Kind, Parsed, parse
from kb.model import Entry, Hit
from kb.signals import SignalHit, Signals

if TYPE_CHECKING:
    from kb.index import Match, TextIndex

CONFIDENT = 0.5
MAX_QUERY_CHARS = 100_000
MAX_TERMS = 48
W_SIGNATURE = 8.0
W_CODE = 7.0
W_REASON = 6.0
W_EXTRA = 1.5  # each further signal of the same entry
W_TEXT = 4.0  # the best text match adds this much; others in proportion
# In a question typed in words, an error string quoted in it is context, not the topic
# ("I want ADH ciphers but always get 'no shared cipher'"): exact signals only break ties.
QUESTION_SIGNAL_SCALE = 0.15
# A document matching more of the query's weight beats one matching a few terms many times.
COVERAGE_FLOOR = 0.2
COVERAGE_POWER = 2
_PLACEHOLDER = re.compile(r"<(?:time|url|ip|path|host|str|hex|num)>")
_AH_TERM = re.compile(r"^ah\d{5}$")


@dataclass
class Query:
    """What will be run: the parsed input, text terms (field, term, boost) and exact signals."""

    parsed: Parsed
    terms: list[tuple[str, str, float]]
    signals: list[SignalHit]
    caps: list[tuple[str, float]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view for ``kb explain``."""
        return {
            "kind": self.parsed.kind.value,
            "codes": self.parsed.ah_codes,
            "reasons": self.parsed.reasons,
            "terms": sorted({t for _, t, _ in self.terms}),
            "fields": sorted({f for f, _, _ in self.terms}),
            "caps": [{"why": why, "max": cap} for why, cap in self.caps],
        }


def text_for_terms(parsed: Parsed) -> str:
    """The words a query searches for: templates without placeholders, plus decoded reasons."""
    if parsed.kind is Kind.QUESTION:
        return parsed.text
    parts = [_PLACEHOLDER.sub(" ", line.template) for line in parsed.lines]
    return "\n".join(parts + parsed.reasons)


def build_query(text: str, signals: Signals, index: TextIndex) -> Query:
    """Parse ``text`` and build the query that ``run`` executes."""
    from kb.index import FIELDS, QUESTION_FIELDS, analyze

    parsed = parse(text[:MAX_QUERY_CHARS])
    terms = [t for t in analyze(text_for_terms(parsed)) if not _AH_TERM.match(t)]
    boosts = FIELDS if parsed.kind is Kind.LOG else QUESTION_FIELDS
    triples = index.query_terms(list(dict.fromkeys(terms))[:MAX_TERMS], boosts)
    hits = signals.match(parsed.text, parsed.ah_codes, parsed.reasons)
    return Query(parsed, triples, hits, _caps(parsed, hits))


def _caps(parsed: Parsed, hits: list[SignalHit]) -> list[tuple[str, float]]:
    """Upper bounds on text-only confidence from what the line says about itself."""
    if parsed.kind is Kind.QUESTION:
        return []
    caps = [("log text without an exact signal", 0.45)]
    if parsed.ah_codes and not hits:
        caps.append(("httpd message code that no entry knows", 0.2))
    levels = [line.level for line in parsed.lines if line.level]
    if levels and all(level in QUIET_LEVELS for level in levels):
        caps.append(("routine log level (info/notice/debug)", 0.25))
    if parsed.lines and all("accesslog" in line.shapes for line in parsed.lines):
        caps.append(("access-log line", 0.15))
    return caps


def run(query: Query, entries: Sequence[Entry], index: TextIndex, limit: int = 5) -> list[Hit]:
    """Score candidates from exact signals and the text index; best ``limit`` hits."""
    scale = QUESTION_SIGNAL_SCALE if query.parsed.kind is Kind.QUESTION else 1.0
    exact = {d: (s * scale, used) for d, (s, used) in _exact_scores(query.signals).items()}
    matches = {m.doc: m for m in index.search(query.terms, limit=max(limit * 3, 15))}
    weight = _term_weights(index, query)
    total = sum(weight.values()) or 1.0
    text_of = {
        doc: m.score * _coverage_factor(
            sum(weight.get(t, 0.0) for t in {t for _, t, _ in m.terms}) / total)
        for doc, m in matches.items()
    }
    best_text = max(text_of.values(), default=0.0)
    scored = []
    for doc in set(exact) | set(matches):
        text = text_of.get(doc, 0.0)
        text_part = W_TEXT * text / best_text if best_text else 0.0
        scored.append((exact.get(doc, (0.0, []))[0] + text_part, text, doc))
    scored.sort(key=lambda item: (-item[0], entries[item[2]].id))
    hits = []
    for score, text, doc in scored[:limit]:
        signal_score, used = exact.get(doc, (0.0, []))
        terms = _contributions(query, matches.get(doc))
        coverage = sum(weight.get(t, 0.0) for t in {t for _, t, _, _ in terms}) / total
        confidence, capped = _confidence(query, signal_score, coverage, text, best_text)
        why = _why(query, used, terms, text, coverage, capped)
        # Built without validation (a search must not pay for building pydantic's validator):
        # _confidence keeps the value in [0, 0.99]; the property tests validate every hit.
        hits.append(Hit.model_construct(
            entry=entries[doc], score=score, confidence=confidence, why=why))
    return hits


def _coverage_factor(coverage: float) -> float:
    """How much a candidate's BM25F counts given the share of the query it covers."""
    return COVERAGE_FLOOR + (1 - COVERAGE_FLOOR) * coverage**COVERAGE_POWER


def _term_weights(index: TextIndex, query: Query) -> dict[str, float]:
    """Each distinct query term's weight: its best idf x boost over the fields it occurs in."""
    weights: dict[str, float] = {}
    for field_name, term, boost in query.terms:
        value = index.idf(field_name, term) * boost
        weights[term] = max(weights.get(term, 0.0), value)
    return weights


def _exact_scores(signals: list[SignalHit]) -> dict[int, tuple[float, list[SignalHit]]]:
    by_entry: dict[int, list[SignalHit]] = defaultdict(list)
    for hit in signals:
        by_entry[hit.entry].append(hit)
    out = {}
    for doc, hits in by_entry.items():
        weights = sorted((_weight(h) for h in hits), reverse=True)
        out[doc] = (weights[0] + W_EXTRA * len(weights[1:4]), hits)
    return out


def _weight(hit: SignalHit) -> float:
    if hit.kind == "signature":
        return W_SIGNATURE + 2.0 * min(1.0, len(hit.value) / 40)
    return W_CODE if hit.kind == "code" else W_REASON


def _contributions(query: Query, match: Match | None) -> list[tuple[str, str, float, float]]:
    """(field, term, boost, contribution) of each matched term, largest first."""
    if match is None:
        return []
    boosts = {(f, t): b for f, t, b in query.terms}
    return [(f, t, boosts.get((f, t), 1.0), value) for f, t, value in match.terms]


def _confidence(
    query: Query, signal_score: float, coverage: float, text: float, best_text: float
) -> tuple[float, str]:
    """(confidence, what capped it or '')."""
    relative = text / best_text if best_text else 0.0
    signal = 1.0 - math.exp(-signal_score / 5.0) if signal_score > 0 else 0.0
    if signal and query.parsed.kind is not Kind.QUESTION:
        return min(0.99, signal + 0.03 * relative), ""
    value = min(0.9, 0.1 + 0.95 * coverage) * (0.6 + 0.4 * relative)
    value = max(value, signal)
    if query.parsed.kind is Kind.QUESTION and len(query.terms) <= 1:
        value = min(value, 0.4)
    capped = ""
    for why, cap in query.caps:
        if value > cap:
            value, capped = cap, why
    return max(0.0, value), capped


def _why(
    query: Query,
    used: list[SignalHit],
    terms: list[tuple[str, str, float, float]],
    text: float,
    coverage: float,
    capped: str,
) -> dict[str, Any]:
    return {
        "kind": query.parsed.kind.value,
        "signals": [
            {"type": h.kind, "value": h.value, "weight": round(_weight(h), 2)} for h in used
        ],
        "text": {
            "bm25f": round(text, 3),
            "coverage": round(coverage, 3),
            "terms": [
                {"field": f, "term": t, "boost": b, "score": round(s, 3)} for f, t, b, s in terms
            ],
        },
        "capped_by": capped or None,
    }


def search(
    text: str, entries: Sequence[Entry], signals: Signals, index: TextIndex, limit: int = 5
) -> list[Hit]:
    """Build and run a query in one call."""
    return run(build_query(text, signals, index), entries, index, limit)
