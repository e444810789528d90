"""The BM25F scorer every search runs, in plain Python over posting lists in whoosh's numbers
(built by kb.whoosh_build), with exact MaxScore pruning.

An index is a dictionary -- for each field and term its document frequency, where its posting
list starts in one flat buffer of bytes, and the largest BM25 impact any of its documents gets
-- plus per-document field lengths. A posting list is read from the buffer only when a query
asks for the term, so an index of 100,000 entries opens without unpacking any.
"""

from __future__ import annotations

import array
import heapq
import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from kb.weights import WEIGHTS

DOC_BYTES = 4  # a posting: uint32 document number, then (after all of them) float32 weight
NO_POSTINGS = -1  # offset of a term in more than ``common`` documents: never scored, not kept
# Pruning compares sums of the same numbers added in another order: far within this margin.
SLACK = 1e-9


class QueryTerm(NamedTuple):
    """One term of a text query in one field, with that field's boost."""

    field: str
    term: str
    boost: float


class Contribution(NamedTuple):
    """What one query term added to one document's BM25F score."""

    field: str
    term: str
    score: float


@dataclass
class Match:
    """One document the text query matched: its number (entry position), BM25F score and
    each contribution that made it, largest first."""

    doc: int
    score: float
    terms: list[Contribution]


POSTINGS_CACHE = 100_000  # (field, term) posting lists kept in memory
TERMS_CACHE = 20_000  # words whose query terms are remembered


def common_cut(documents: int) -> int:
    """Terms in more documents than this are skipped by every query (too common to tell
    entries apart), so an index need not keep their posting lists."""
    return max(WEIGHTS.common_min_df, int(documents * WEIGHTS.common_share))


def impact_bound(docs: Sequence[int], weights: Sequence[float], lengths: Sequence[float],
                 average: float) -> float:
    """The largest BM25 term-frequency factor of a posting list (its score before boost and
    idf): the bound MaxScore prunes with."""
    k1, b = WEIGHTS.bm25_k1, WEIGHTS.bm25_b
    norm, scale = k1 * (1 - b), k1 * b / average
    return max(((tf * (k1 + 1)) / (tf + norm + scale * lengths[doc])
                for doc, tf in zip(docs, weights, strict=True)), default=0.0)


class TextIndex:
    """BM25F over posting lists exported in whoosh's numbers (doc number == entry position).

    ``data`` holds ``ids``, ``lengths`` (field -> per-document length, whoosh's byte-quantised
    one), ``totals`` (field -> sum of true lengths), ``terms`` (field -> term -> (offset into
    ``postings``, document frequency, impact bound)), ``common`` (the cut of ``common_cut``)
    and ``k1``/``b`` (what the bounds were computed with). Scores are whoosh's BM25F formula
    with whoosh's idf, so they equal those of whoosh's searcher; each term's contribution
    comes for free.
    """

    def __init__(self, data: dict[str, Any], where: str, postings: Any = b"") -> None:
        self.where = where
        self._ids: list[str] = list(data["ids"])
        self._n = len(self._ids)
        self._terms: dict[str, dict[str, tuple[int, int, float]]] = data["terms"]
        self._lengths: dict[str, list[float]] = {f: _floats(v)
                                                 for f, v in data["lengths"].items()}
        self._avg = {f: (data["totals"][f] / self._n if self._n else 0.0) or 1.0
                     for f in self._lengths}
        self._common = int(data["common"])
        # Bounds are exact for the BM25 parameters they were computed with.
        self._bounded = (data.get("k1"), data.get("b")) == (WEIGHTS.bm25_k1, WEIGHTS.bm25_b)
        self._buffer = postings
        self._postings: dict[tuple[str, str], tuple[array.array[int], list[float]]] = {}
        self._idf: dict[tuple[str, str], float] = {}
        # (term, boosts) -> its query terms: words repeat from query to query.
        self._query_terms: dict[tuple[str, int], tuple[QueryTerm, ...]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_buffer"] = bytes(self._buffer)  # a memory map does not pickle; its bytes do
        return state

    @property
    def ids(self) -> list[str]:
        """The entry id stored for each document, in document order."""
        return list(self._ids)

    def query_terms(
        self, terms: Iterable[str], boosts: dict[str, float] | None = None
    ) -> list[QueryTerm]:
        """A QueryTerm for every field that contains the term at all."""
        boosts = boosts or WEIGHTS.log_fields
        out: list[QueryTerm] = []
        for term in dict.fromkeys(terms):
            key = (term, id(boosts))
            made = self._query_terms.get(key)
            if made is None:
                made = tuple(QueryTerm(field, term, boost) for field, boost in boosts.items()
                             if term in self._terms.get(field, {}))
                if len(self._query_terms) >= TERMS_CACHE:
                    self._query_terms.clear()
                self._query_terms[key] = made
            out += made
        return out

    # -- scoring ---------------------------------------------------------------------------

    def search(self, triples: list[QueryTerm], limit: int) -> list[Match]:
        """BM25F over the query terms; best ``limit`` documents (ties: lower number first).

        Exact MaxScore: terms are taken largest impact bound first, each posting list whole,
        until the bounds left cannot lift a document nobody has seen yet into the best
        ``limit``; the lists left are then only probed for the documents still in the running,
        which drop out as soon as their bound falls short. The result -- documents, scores
        and contributions -- is the exhaustive scorer's (``search_exhaustive``), to the bit:
        the final candidates are scored again in query order.
        """
        terms = self._scored_terms(triples)
        if terms is None:
            return self.search_exhaustive(triples, limit)
        candidates = self._candidates(terms, limit)
        return self._exact(triples, candidates, limit)

    def search_exhaustive(self, triples: list[QueryTerm], limit: int) -> list[Match]:
        """The plain scorer: every posting of every term (the reference ``search`` equals)."""
        scores: dict[int, float] = {}
        parts: dict[int, list[Contribution]] = {}
        for field, term, boost in triples:
            weight = self._weight(field, term, boost)
            if weight is None:
                continue
            factor, k1p1, norm, scale, lengths = weight
            docs, tfs = self._posting_arrays(field, term)
            for doc, tf in zip(docs, tfs, strict=True):
                value = factor * (tf * k1p1) / (tf + norm + scale * lengths[doc])
                scores[doc] = scores.get(doc, 0.0) + value
                parts.setdefault(doc, []).append(Contribution(field, term, value))
        best = heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], -item[0]))
        return [Match(doc, score, sorted(parts[doc], key=lambda p: -p[2])) for doc, score in best]

    def _weight(self, field: str, term: str, boost: float) -> _Weight | None:
        """What the BM25F contribution of one query term is computed from, or None when the
        term is not scored (absent from the field, or in more than ``common`` documents).

        Every loop computes ``factor * (tf * k1p1) / (tf + norm + scale * lengths[doc])``:
        operation for operation the formula the exhaustive loop always used.
        """
        info = self._terms.get(field, {}).get(term)
        if info is None or info[1] > self._common or info[1] == 0:
            return None
        k1, b = WEIGHTS.bm25_k1, WEIGHTS.bm25_b
        return _Weight(boost * self.idf(field, term), k1 + 1, k1 * (1 - b),
                       k1 * b / self._avg[field], self._lengths[field])

    def _scored_terms(self, triples: list[QueryTerm]) -> list[_Term] | None:
        """The query terms that score, largest bound first; None when pruning cannot be
        exact (bounds computed with other BM25 parameters, or a boost below zero)."""
        if not self._bounded:
            return None
        terms = []
        for field, term, boost in triples:
            if boost < 0:
                return None
            weight = self._weight(field, term, boost)
            if weight is None:
                continue
            bound = weight.factor * self._terms[field][term][2]
            terms.append(_Term(bound * (1 + SLACK), field, term, weight))
        terms.sort(key=lambda t: -t.bound)
        return terms

    def _candidates(self, terms: list[_Term], limit: int) -> dict[int, float]:
        """Documents that may be among the best ``limit``, with approximate scores."""
        # What the terms from each one on can add at most (summed exactly, never running
        # totals: a rounding below zero would drop a document that ties at zero).
        left = [math.fsum(t.bound for t in terms[i:]) for i in range(len(terms) + 1)]
        scores: dict[int, float] = {}
        for number, term in enumerate(terms):
            if len(scores) >= limit:
                floor = heapq.nlargest(limit, scores.values())[-1]
                if left[number] < floor * (1 - SLACK):
                    return self._probe(terms[number:], scores, floor, left[number:], limit)
            docs, tfs = self._posting_arrays(term.field, term.term)
            factor, k1p1, norm, scale, lengths = term.weight
            get = scores.get
            for doc, tf in zip(docs, tfs, strict=True):
                scores[doc] = get(doc, 0.0) + factor * (tf * k1p1) / (tf + norm
                                                                      + scale * lengths[doc])
        return scores

    def _probe(self, terms: list[_Term], scores: dict[int, float], floor: float,
               left: list[float], limit: int) -> dict[int, float]:
        """Finish the documents still in the running by looking each up in the lists left
        (``left[i]``: what ``terms[i:]`` can add at most)."""
        live = {doc: s for doc, s in scores.items() if s + left[0] >= floor * (1 - SLACK)}
        for number, term in enumerate(terms, 1):
            docs, tfs = self._posting_arrays(term.field, term.term)
            if len(live) * max(1, len(docs).bit_length()) < len(docs):
                found = _lookup(docs, tfs, live)
            else:
                found = [(doc, tf) for doc, tf in zip(docs, tfs, strict=True) if doc in live]
            for doc, tf in found:
                live[doc] += term.weight.of(doc, tf)
            if len(live) > limit:
                floor = max(floor, heapq.nlargest(limit, live.values())[-1])
                live = {doc: s for doc, s in live.items()
                        if s + left[number] >= floor * (1 - SLACK)}
        return live

    def _exact(self, triples: list[QueryTerm], candidates: dict[int, float],
               limit: int) -> list[Match]:
        """The best ``limit`` candidates, scored again in query order (the exhaustive
        scorer's sums, to the bit)."""
        if len(candidates) > limit:
            floor = heapq.nlargest(limit, candidates.values())[-1] * (1 - SLACK)
            candidates = {doc: s for doc, s in candidates.items() if s >= floor}
        parts: dict[int, list[Contribution]] = {doc: [] for doc in candidates}
        for field, term, boost in triples:
            weight = self._weight(field, term, boost)
            if weight is None:
                continue
            docs, tfs = self._posting_arrays(field, term)
            for doc, tf in _lookup(docs, tfs, parts):
                parts[doc].append(Contribution(field, term, weight.of(doc, tf)))
        scores = {doc: _total(found) for doc, found in parts.items()}
        best = heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], -item[0]))
        return [Match(doc, score, sorted(parts[doc], key=lambda p: -p[2])) for doc, score in best]

    # -- the index's numbers ---------------------------------------------------------------

    def _posting_arrays(self, field: str, term: str) -> tuple[array.array[int], list[float]]:
        """A term's posting list: document numbers (ascending) and weights."""
        key = (field, term)
        cached = self._postings.get(key)
        if cached is None:
            info = self._terms.get(field, {}).get(term)
            docs: array.array[int] = array.array("I")
            tfs: list[float] = []
            if info is not None and info[0] != NO_POSTINGS:
                offset, df = info[0], info[1]
                end = offset + df * DOC_BYTES
                docs.frombytes(self._buffer[offset:end])
                tfs = _floats(self._buffer[end : end + df * DOC_BYTES])
            if len(self._postings) >= POSTINGS_CACHE:
                self._postings.clear()
            cached = self._postings[key] = (docs, tfs)
        return cached

    def idf(self, field: str, term: str) -> float:
        """whoosh's idf of a term in a field: log(N / (df + 1)) + 1."""
        key = (field, term)
        value = self._idf.get(key)
        if value is None:
            info = self._terms.get(field, {}).get(term)
            df = info[1] if info else 0
            value = self._idf[key] = math.log(self._n / (df + 1)) + 1 if self._n else 0.0
        return value


class _Weight(NamedTuple):
    """The numbers of one query term's BM25F contributions (``TextIndex._weight``)."""

    factor: float  # boost x idf
    k1p1: float
    norm: float
    scale: float
    lengths: list[float]

    def of(self, doc: int, tf: float) -> float:
        """The contribution to document ``doc`` of a posting of weight ``tf``."""
        return self.factor * (tf * self.k1p1) / (tf + self.norm + self.scale * self.lengths[doc])


class _Term(NamedTuple):
    """A query term that scores: its bound (x boost x idf, with SLACK), field, term, weight."""

    bound: float
    field: str
    term: str
    weight: _Weight


def _lookup(docs: array.array[int], tfs: list[float],
            wanted: Iterable[int]) -> list[tuple[int, float]]:
    """(doc, weight) of each wanted document that is in a posting list (binary search)."""
    found = []
    size = len(docs)
    for doc in wanted:
        at = bisect_left(docs, doc)
        if at < size and docs[at] == doc:
            found.append((doc, tfs[at]))
    return found


def _total(parts: list[Contribution]) -> float:
    """A document's score: its contributions summed in query order (as the exhaustive loop
    adds them)."""
    total = 0.0
    for part in parts:
        total += part.score
    return total


def _floats(raw: Any) -> list[float]:
    """float32 values packed in bytes (or a list already) as Python floats."""
    if isinstance(raw, list):
        return raw
    values = array.array("f")
    values.frombytes(raw)
    return values.tolist()
