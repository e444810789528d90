"""The text index (issue 17): kb's inverter gives whoosh's own numbers, and pruned scoring
(MaxScore) gives exactly what scoring every posting gives -- same documents, same scores to
the bit, same contributions -- on random collections and queries, on the shipped FAQ and on
a generated collection big enough for the pruning to skip most of the work."""

from __future__ import annotations

import io
import random
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kb import Entry, KnowledgeBase, Signature, Source, bm25
from kb.bm25 import NO_POSTINGS, QueryTerm, TextIndex, common_cut
from kb.whoosh_build import FIELDS, build_in_memory, export, invert, unpacked

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

PROPS = settings(max_examples=400, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# A small vocabulary, so that terms repeat across documents and within one (tf > 1), with
# identifiers whose parts are terms too.
WORDS = ["cipher", "shared", "handshake", "certificate", "verify", "chain", "issuer", "key",
         "private", "match", "AH02565", "SSL3_READ_BYTES", "alert", "protocol", "TLSv1.2",
         "renegotiation", "timeout", "proxy", "backend", "SSLCertificateFile", "client",
         "server", "error", "expired", "revoked", "OCSP", "stapling", "SNI", "vhost", "port"]


def _text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def _entries(seed: int, count: int) -> list[Entry]:
    rng = random.Random(seed)
    made = []
    for number in range(count):
        signatures = tuple(Signature(text=_text(rng, 2, 4)) for _ in range(rng.randint(0, 2)))
        tags = tuple(_text(rng, 1, 1) for _ in range(rng.randint(0, 3)))
        made.append(Entry(
            id=f"e-{number}", title=_text(rng, 1, 6), answer=_text(rng, 0, 60),
            section=_text(rng, 0, 2), tags=tags,
            questions=tuple(_text(rng, 2, 5) for _ in range(rng.randint(0, 2))),
            signatures=signatures, source=Source(file="gen.md", line=number + 1)))
    return made


def _query(index: TextIndex, rng: random.Random, boosts: dict[str, float]) -> list[QueryTerm]:
    terms = [t for w in rng.sample(WORDS, rng.randint(1, 12)) for t in _analyzed(w)]
    return index.query_terms(terms, boosts)


def _analyzed(word: str) -> list[str]:
    from kb.text import analyze

    return analyze(word)


@contextmanager
def _always_pruned() -> Iterator[None]:
    """Prune however few the postings (kb.bm25 scores small queries exhaustively)."""
    old, bm25.EXHAUSTIVE_POSTINGS = bm25.EXHAUSTIVE_POSTINGS, 0
    try:
        yield
    finally:
        bm25.EXHAUSTIVE_POSTINGS = old


def assert_same(index: TextIndex, triples: list[QueryTerm], limit: int) -> None:
    with _always_pruned():
        pruned = index.search(triples, limit)
    plain = index.search_exhaustive(triples, limit)
    assert [(m.doc, m.score, m.terms) for m in pruned] == [
        (m.doc, m.score, m.terms) for m in plain]


@PROPS
@example(seed=0, count=3, limit=3, query_seed=0, odd_boost=0.0)  # documents that tie at 0
@given(st.integers(0, 10**6), st.integers(1, 120), st.integers(1, 20), st.integers(0, 10**6),
       st.sampled_from([0.0, 0.5, 1.0, 3.0]))
def test_pruned_search_is_the_exhaustive_one(seed: int, count: int, limit: int, query_seed: int,
                                             odd_boost: float) -> None:
    index = build_in_memory(_entries(seed, count))
    rng = random.Random(query_seed)
    boosts = {field: rng.choice([0.5, 1.0, 2.0, 4.0]) for field in FIELDS}
    boosts[rng.choice(FIELDS)] = odd_boost  # zero boosts and ties of bounds included
    for _ in range(3):
        assert_same(index, _query(index, rng, boosts), limit)


def test_terms_too_common_to_score_keep_only_their_counts() -> None:
    # Over common_cut(n) documents a term is never scored, so the index keeps its document
    # frequency (idf, coverage) and no posting list; scoring is the same either way.
    entries = [e.model_copy(update={"title": f"cipher {e.title}"})
               for e in _entries(3, common_cut(0) + 100)]
    data = invert(entries, io.BytesIO())
    dropped = [(f, t) for f in FIELDS for t, info in data["terms"][f].items()
               if info[0] == NO_POSTINGS]
    assert dropped and all(data["terms"][f][t][1] > data["common"] for f, t in dropped)
    index = build_in_memory(entries)
    rng = random.Random(5)
    for limit in (1, 5, 15):
        for _ in range(20):
            assert_same(index, _query(index, rng, {f: 1.0 for f in FIELDS}), limit)


def _whoosh_view(entries: Sequence[Entry]) -> tuple[dict[str, object], dict[str, object]]:
    """(kb's inverter, whoosh) in one form: posting lists of the terms a query can score,
    and every term's document frequency."""
    out = io.BytesIO()
    data = invert(entries, out)
    mine = unpacked(data, out.getvalue())
    theirs = export(entries)
    common = data["common"]
    dfs = {f: {t: len(v[0]) // 4 for t, v in theirs["terms"][f].items()}  # type: ignore[index]
           for f in FIELDS}
    theirs["terms"] = {f: {t: v for t, v in theirs["terms"][f].items()  # type: ignore[index]
                           if dfs[f][t] <= common} for f in FIELDS}
    mine_dfs = {f: {t: info[1] for t, info in data["terms"][f].items()} for f in FIELDS}
    assert mine_dfs == dfs
    return mine, theirs


@pytest.mark.parametrize("count", [1, 40, common_cut(0) + 20])
def test_the_inverter_gives_whoosh_s_numbers(count: int) -> None:
    mine, theirs = _whoosh_view(_entries(count, count))
    assert mine == theirs


def test_the_inverter_gives_whoosh_s_numbers_for_the_shipped_faq(
        shipped: KnowledgeBase) -> None:
    mine, theirs = _whoosh_view(shipped.entries())
    assert mine == theirs


def test_empty_and_odd_entries_invert_like_whoosh() -> None:
    odd = [Entry(id="a", title="x", answer="", source=Source(file="f", line=1)),
           Entry(id="b", title="Ünïcödé TLSv1.3 ÆØÅ 日本語", answer="a I -- '' ...",
                 tags=("",), source=Source(file="f", line=2))]
    mine, theirs = _whoosh_view(odd)
    assert mine == theirs


def _texts(kb: KnowledgeBase) -> list[str]:
    import make_log

    entries = kb.entries()
    return ([x for e in entries for x in e.examples] + [e.title for e in entries]
            + list(make_log.generate(40, seed=7, ssl_share=0.0)))


def test_pruning_is_exact_on_every_bench_query_of_the_shipped_faq(
        shipped: KnowledgeBase) -> None:
    index = shipped.searcher.index
    for text in _texts(shipped):
        query = shipped.build_query(text)
        for limit in (1, 15):
            assert_same(index, query.terms, limit)


def test_pruning_is_exact_on_a_generated_collection(tmp_path: Path,
                                                    shipped: KnowledgeBase) -> None:
    import bench

    bench.write_big_kb(tmp_path / "big", shipped.entries(), 1500, seed=11)
    big = KnowledgeBase.from_paths([tmp_path / "big"], cache_dir=tmp_path / "cache")
    index = big.searcher.index
    for text in _texts(shipped)[::3]:
        assert_same(index, big.build_query(text).terms, 15)
