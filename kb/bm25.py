"""The BM25F scorer every search runs: posting lists exported from a whoosh index, in plain
Python (no whoosh import; see kb.whoosh_build for why)."""

from __future__ import annotations

import array
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from kb.weights import WEIGHTS


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


class TextIndex:
    """BM25F over the exported posting lists of a whoosh index (doc number == entry position).

    Scoring is whoosh's BM25F formula with whoosh's own idf and its stored (byte-quantised)
    field lengths, so scores equal those of whoosh's searcher; computed here over flat lists it
    is several times faster than whoosh's matcher tree and gives each term's contribution for
    free.
    """

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.where = where
        self._ids: list[str] = list(data["ids"])
        self._n = len(self._ids)
        self._terms: dict[str, dict[str, tuple[bytes, bytes]]] = data["terms"]
        self._lengths: dict[str, list[float]] = data["lengths"]
        self._avg = {f: (data["totals"][f] / self._n if self._n else 0.0) or 1.0
                     for f in self._lengths}
        self._postings: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self._idf: dict[tuple[str, str], float] = {}
        # (term, boosts) -> its query terms: words repeat from query to query.
        self._query_terms: dict[tuple[str, int], tuple[QueryTerm, ...]] = {}

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

    def search(self, triples: list[QueryTerm], limit: int) -> list[Match]:
        """BM25F over the query terms; best ``limit`` documents."""
        scores: dict[int, float] = {}
        parts: dict[int, list[Contribution]] = {}
        w = WEIGHTS
        common = max(w.common_min_df, int(self._n * w.common_share))
        for field, term, boost in triples:
            postings = self._posting_list(field, term)
            if len(postings) > common:
                continue
            idf = self.idf(field, term)
            lengths, avg = self._lengths[field], self._avg[field]
            norm = w.bm25_k1 * (1 - w.bm25_b)
            scale = w.bm25_k1 * w.bm25_b / avg
            for doc, tf in postings:
                value = boost * idf * (tf * (w.bm25_k1 + 1)) / (tf + norm + scale * lengths[doc])
                scores[doc] = scores.get(doc, 0.0) + value
                parts.setdefault(doc, []).append(Contribution(field, term, value))
        best = heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], -item[0]))
        return [Match(doc, score, sorted(parts[doc], key=lambda p: -p[2])) for doc, score in best]

    def _posting_list(self, field: str, term: str) -> list[tuple[int, float]]:
        key = (field, term)
        cached = self._postings.get(key)
        if cached is None:
            packed = self._terms.get(field, {}).get(term, (b"", b""))
            cached = list(zip(_unpack("I", packed[0]), _unpack("f", packed[1]), strict=True))
            if len(self._postings) >= POSTINGS_CACHE:
                self._postings.clear()
            self._postings[key] = cached
        return cached

    def idf(self, field: str, term: str) -> float:
        """whoosh's idf of a term in a field: log(N / (df + 1)) + 1."""
        key = (field, term)
        value = self._idf.get(key)
        if value is None:
            packed = self._terms.get(field, {}).get(term)
            df = len(packed[0]) // DOC_BYTES if packed else 0
            value = self._idf[key] = math.log(self._n / (df + 1)) + 1 if self._n else 0.0
        return value


DOC_BYTES = array.array("I").itemsize


def _unpack(typecode: str, raw: bytes) -> array.array[Any]:
    values = array.array(typecode)
    values.frombytes(raw)
    return values
