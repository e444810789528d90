"""Query building never hands text to whoosh's parser: operators are words, nothing errors."""

from __future__ import annotations

import pytest

from kb import KnowledgeBase, QueryError
from kb.text import analyze

NASTY = [
    "error:14094412:SSL routines:SSL3_READ_BYTES:sslv3 alert bad certificate",
    'NOT (AND) OR * ^2 "unbalanced',
    "SSLCertificateFile AND",
]


@pytest.mark.parametrize("text", NASTY)
def test_every_word_is_kept_and_nothing_errors(text: str, shipped: KnowledgeBase) -> None:
    query = shipped.build_query(text)
    searched = {t for _, t, _ in query.terms}
    expected = {t for t in analyze(text) if t in _vocabulary(shipped, t)}
    assert expected <= searched
    shipped.run(query)  # no exception


def _vocabulary(kb: KnowledgeBase, term: str) -> set[str]:
    return {term} if kb.build_query(term).terms else set()


def test_operators_are_plain_words(shipped: KnowledgeBase) -> None:
    terms = analyze('NOT (AND) OR * ^2 "unbalanced')
    assert "unbalanc" in terms  # stemmed, but present: not swallowed as syntax
    assert shipped.search("SSLCertificateFile AND")[0].entry.id  # AND is not an operator


def test_openssl_error_keeps_identifiers() -> None:
    terms = analyze(NASTY[0])
    assert {"ssl3_read_bytes", "14094412", "sslv3", "alert", "bad", "certif"} <= set(terms)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_query_is_refused(text: str, shipped: KnowledgeBase) -> None:
    with pytest.raises(QueryError):
        shipped.search(text)


def test_megabyte_query_is_answered(shipped: KnowledgeBase) -> None:
    text = ("AH02565: Certificate and private key do not match " * 20000)[:1_000_000]
    hits = shipped.search(text)
    assert hits and hits[0].entry.id == "key-cert-match"
