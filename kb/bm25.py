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
from itertools import compress
from typing import Any, NamedTuple

from kb.weights import WEIGHTS

# A posting list: uint32 document numbers, then float32 weights (term frequencies), then
# float32 impacts, each as many as the term's documents.
DOC_BYTES = 4
NO_POSTINGS = -1  # offset of a term in more than ``common`` documents: never scored, not kept
# Pruning compares approximate sums (float32 impacts, another order) with exact ones: their
# relative error is under 1e-7, far within this margin.
SLACK = 1e-6


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


POSTINGS_CACHE = 20_000_000  # postings kept unpacked (12 bytes each)
SEED_POSTINGS = 2000  # postings added before the first floor is computed
# Below this many postings in all, scoring every one is cheaper than pruning (the floors'
# binary searches): most queries of the shipped FAQ.
EXHAUSTIVE_POSTINGS = 2000
FLOOR_REFRESH = 4096  # the floor is raised from the scores so far when this few are left
TERMS_CACHE = 20_000  # words whose query terms are remembered


def common_cut(documents: int) -> int:
    """Terms in more documents than this are skipped by every query (too common to tell
    entries apart), so an index need not keep their posting lists."""
    return max(WEIGHTS.common_min_df, int(documents * WEIGHTS.common_share))


def impacts(docs: Sequence[int], weights: Sequence[float], lengths: Sequence[float],
            average: float) -> list[float]:
    """The BM25 term-frequency factor of each posting (its score before boost and idf):
    stored beside the posting list, the largest one is the bound MaxScore prunes with."""
    k1, b = WEIGHTS.bm25_k1, WEIGHTS.bm25_b
    norm, scale = k1 * (1 - b), k1 * b / average
    return [(tf * (k1 + 1)) / (tf + norm + scale * lengths[doc])
            for doc, tf in zip(docs, weights, strict=True)]


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
        self._totals: dict[str, float] = dict(data["totals"])
        # A term in more than ``common`` documents keeps no postings: its total frequency.
        self._frequencies: dict[str, dict[str, float]] = data.get("frequencies", {})
        self._common = int(data["common"])
        # Bounds are exact for the BM25 parameters they were computed with.
        self._bounded = (data.get("k1"), data.get("b")) == (WEIGHTS.bm25_k1, WEIGHTS.bm25_b)
        self._buffer = postings
        self._postings: dict[tuple[str, str], _Postings] = {}
        self._cached = 0
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

        Exact MaxScore. Terms are taken largest impact bound first. The first few lists are
        added whole and the best documents so far scored in full: the ``limit``-th of those
        scores is a floor the final ``limit``-th cannot be under. Lists are then added whole
        only while the bounds of the terms left could still lift a document nobody has
        seen into the best ``limit`` (the *essential* ones); the rest are only probed for
        the documents still in the running, which drop out as soon as their bound falls
        short. Sums are accumulated from stored per-posting impacts (float32, far within
        ``SLACK``); the final candidates are scored again in query order from the term
        frequencies, so documents, scores and contributions are the exhaustive scorer's
        (``search_exhaustive``) to the bit -- a property test holds them to it.
        """
        terms = self._scored_terms(triples)
        if terms is None or sum(t.df for t in terms) <= EXHAUSTIVE_POSTINGS:
            return self.search_exhaustive(triples, limit)
        return self._exact(triples, self._candidates(terms, limit), limit)

    def search_exhaustive(self, triples: list[QueryTerm], limit: int) -> list[Match]:
        """The plain scorer: every posting of every term (the reference ``search`` equals)."""
        scores: dict[int, float] = {}
        parts: dict[int, list[Contribution]] = {}
        for field, term, boost in triples:
            weight = self._weight(field, term, boost)
            if weight is None:
                continue
            factor, k1p1, norm, scale, lengths = weight
            docs, tfs, _ = self._posting_arrays(field, term)
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
        exact (bounds computed with other BM25 parameters, or a boost of zero or less: then
        a document can score 0, which the accumulator cannot tell from no match)."""
        if not self._bounded:
            return None
        terms = []
        for field, term, boost in triples:
            if boost <= 0:
                return None
            weight = self._weight(field, term, boost)
            if weight is None:
                continue
            _, df, bound = self._terms[field][term]
            terms.append(_Term(weight.factor * bound * (1 + SLACK), field, term, weight, df))
        terms.sort(key=lambda t: -t.bound)
        return terms

    def _candidates(self, terms: list[_Term], limit: int) -> dict[int, float]:
        """Documents that may be among the best ``limit``, with approximate scores."""
        # What the terms from each one on can add at most (summed exactly, never running
        # totals, which could round below the truth).
        bounds = [t.bound for t in terms]
        left = [math.fsum(bounds[i:]) for i in range(len(terms) + 1)]
        acc = array.array("d", bytes(8 * self._n))  # approximate score of every document
        touched: set[int] = set()
        done, added = 0, 0
        while done < len(terms) and (done == 0 or added < SEED_POSTINGS):
            added += self._add(terms[done], acc, touched)
            done += 1
        floor = self._seed_floor(terms, acc, touched, limit)
        while done < len(terms) and left[done] >= floor:
            self._add(terms[done], acc, touched)
            done += 1
        if done < len(terms):  # the best documents now are better seeds: a higher floor
            floor = max(floor, self._seed_floor(terms, acc, touched, limit))
        # In the running: documents whose score so far plus what is left reaches the floor
        # (the floor only rises and what is left only falls: a document out stays out).
        live = _at_least(acc, touched, floor - left[done])
        for number in range(done, len(terms)):
            self._probe(terms[number], acc, live, floor - left[number])
            if len(live) <= FLOOR_REFRESH and len(live) > limit:
                floor = max(floor, heapq.nlargest(limit, map(acc.__getitem__, live))[-1]
                            * (1 - SLACK))
            live = _at_least(acc, live, floor - left[number + 1])
        return {doc: acc[doc] for doc in live}

    def _add(self, term: _Term, acc: array.array[float], touched: set[int]) -> int:
        """Add a whole posting list to the accumulator; its length."""
        docs, _, impacts = self._posting_arrays(term.field, term.term)
        factor = term.weight.factor
        for doc, impact in zip(docs, impacts, strict=True):
            acc[doc] += factor * impact
        touched.update(docs)
        return len(docs)

    def _seed_floor(self, terms: list[_Term], acc: array.array[float], touched: set[int],
                    limit: int) -> float:
        """A lower bound of the final ``limit``-th score: the ``limit``-th full score of the
        best documents so far (0 when fewer documents have been seen)."""
        if len(touched) < limit:
            return 0.0
        best = heapq.nlargest(2 * limit, touched, key=acc.__getitem__)
        full = sorted((sum(self._contributions(doc, terms)) for doc in best), reverse=True)
        return full[limit - 1] * (1 - SLACK)

    def _contributions(self, doc: int, terms: list[_Term]) -> list[float]:
        """A document's contribution from each term (exact formula, any order)."""
        out = []
        for term in terms:
            docs, tfs, _ = self._posting_arrays(term.field, term.term)
            at = bisect_left(docs, doc)
            if at < len(docs) and docs[at] == doc:
                out.append(term.weight.of(doc, tfs[at]))
        return out

    def _probe(self, term: _Term, acc: array.array[float], live: list[int],
               threshold: float) -> None:
        """Add one posting list's contributions to the documents still in the running
        (``live``: exactly those whose score so far is at least ``threshold``): a binary
        search per document, or one pass over the list when that is cheaper."""
        docs, _, impacts = self._posting_arrays(term.field, term.term)
        factor = term.weight.factor
        if len(live) * max(1, len(docs).bit_length()) < len(docs):
            size = len(docs)
            for doc in live:
                at = bisect_left(docs, doc)
                if at < size and docs[at] == doc:
                    acc[doc] += factor * impacts[at]
        else:
            for doc, impact in zip(docs, impacts, strict=True):
                if acc[doc] >= threshold:
                    acc[doc] += factor * impact

    def _exact(self, triples: list[QueryTerm], candidates: dict[int, float],
               limit: int) -> list[Match]:
        """The best ``limit`` candidates, scored again in query order (the exhaustive
        scorer's sums, to the bit)."""
        if len(candidates) > limit:
            floor = heapq.nlargest(limit, candidates.values())[-1] * (1 - 2 * SLACK)
            candidates = {doc: s for doc, s in candidates.items() if s >= floor}
        parts: dict[int, list[Contribution]] = {doc: [] for doc in candidates}
        for field, term, boost in triples:
            weight = self._weight(field, term, boost)
            if weight is None:
                continue
            docs, tfs, _ = self._posting_arrays(field, term)
            for doc, tf in _lookup(docs, tfs, parts):
                parts[doc].append(Contribution(field, term, weight.of(doc, tf)))
        scores = {doc: _total(found) for doc, found in parts.items()}
        best = heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], -item[0]))
        return [Match(doc, score, sorted(parts[doc], key=lambda p: -p[2])) for doc, score in best]

    # -- the index's numbers ---------------------------------------------------------------

    def _posting_arrays(self, field: str, term: str) -> _Postings:
        """A term's posting list: document numbers (ascending), weights (term frequencies)
        and impacts (``impact`` of each posting)."""
        key = (field, term)
        cached = self._postings.get(key)
        if cached is None:
            info = self._terms.get(field, {}).get(term)
            docs, tfs, impacts = array.array("I"), array.array("f"), array.array("f")
            if info is not None and info[0] != NO_POSTINGS:
                offset, size = info[0], info[1] * DOC_BYTES
                docs.frombytes(self._buffer[offset : offset + size])
                tfs.frombytes(self._buffer[offset + size : offset + 2 * size])
                impacts.frombytes(self._buffer[offset + 2 * size : offset + 3 * size])
            if self._cached + len(docs) > POSTINGS_CACHE:
                self._postings.clear()
                self._cached = 0
            self._cached += len(docs)
            cached = self._postings[key] = _Postings(docs, tfs, impacts)
        return cached

    @property
    def documents(self) -> int:
        """How many documents the index holds."""
        return self._n

    def df(self, field: str, term: str) -> int:
        """How many documents have ``term`` in ``field``."""
        info = self._terms.get(field, {}).get(term)
        return info[1] if info else 0

    def frequency(self, field: str, term: str) -> float:
        """How often ``term`` occurs in ``field`` over all documents (read from its posting
        list, which is not kept: a merged searcher asks once per word)."""
        info = self._terms.get(field, {}).get(term)
        if info is None:
            return 0.0
        if info[0] == NO_POSTINGS:
            return self._frequencies.get(field, {}).get(term, float(info[1]))
        offset, size = info[0], info[1] * DOC_BYTES
        tfs = array.array("f")
        tfs.frombytes(self._buffer[offset + size : offset + 2 * size])
        return float(sum(tfs))

    def length(self, field: str) -> float:
        """How many terms ``field`` holds over all documents."""
        return float(self._totals.get(field, 0.0))

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


class _Postings(NamedTuple):
    """One unpacked posting list."""

    docs: array.array[int]
    tfs: array.array[float]
    impacts: array.array[float]


class _Term(NamedTuple):
    """A query term that scores: its bound (x boost x idf, with SLACK), field, term, weight
    and document frequency."""

    bound: float
    field: str
    term: str
    weight: _Weight
    df: int


def _lookup(docs: array.array[int], tfs: array.array[float],
            wanted: Iterable[int]) -> list[tuple[int, float]]:
    """(doc, weight) of each wanted document that is in a posting list (binary search)."""
    found = []
    size = len(docs)
    for doc in wanted:
        at = bisect_left(docs, doc)
        if at < size and docs[at] == doc:
            found.append((doc, tfs[at]))
    return found


def _at_least(acc: array.array[float], docs: list[int] | set[int],
              threshold: float) -> list[int]:
    """The documents of ``docs`` whose accumulated score is at least ``threshold`` (two
    passes over ``docs``, which yield the same order)."""
    return list(compress(docs, map(threshold.__le__, map(acc.__getitem__, docs))))


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
