"""Routine output is not a problem: words alone must say something is wrong.

Real output of curl, openssl and apache2 on a healthy loopback server (tests/data/routine,
see its README) used to give `kb diagnose` a dozen confident problems: a line such as
"Protocol  : TLSv1.3" or "Main PID: 784 (httpd)" has all its few words in some entry's title.
A statement shaped like a tool's output (a ``Label: value`` field, indented or not, a label and
a value apart by a column gap, a banner, or at most three known words) with no word saying that
something is wrong, and two bare keywords, are capped
below the confident threshold; exact signals and statements of a problem are not touched.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import CONFIDENT, Hit, KnowledgeBase
from kb.logline import looks_like_output, parse, says_what_is_wrong

ROUTINE = Path(__file__).resolve().parent / "data" / "routine"
QUIET = ["curl-v.txt", "apache2-S.txt", "apache2-M.txt", "apache2-V.txt",
         "openssl-x509-text.txt", "openssl-ocsp-resp_text.txt"]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase.default(semantic=False)


@pytest.mark.parametrize("name", QUIET)
def test_routine_output_of_a_healthy_server_gives_no_problem(kb: KnowledgeBase,
                                                             name: str) -> None:
    text = (ROUTINE / name).read_text(encoding="utf-8")
    assert [(p.record.id, p.sample) for p in kb.diagnose(text.splitlines()).problems] == []


def test_what_s_client_reports_is_only_what_says_something_is_wrong(kb: KnowledgeBase) -> None:
    # The 400 reply to echo's empty request and TLS 1.3's "Secure Renegotiation IS NOT
    # supported" say so in words; the certificate, protocol and session fields do not.
    text = (ROUTINE / "openssl-s_client.txt").read_text(encoding="utf-8")
    problems = kb.diagnose(text.splitlines()).problems
    assert len(problems) <= 2
    for problem in problems:
        assert says_what_is_wrong(problem.template), problem.sample


@pytest.mark.parametrize("line", [
    "    Protocol  : TLSv1.3",
    "    Start Time: 1764596104",
    "Connection: close",
    "Main PID: 784 (httpd)",
    "ALPN: curl offers h2,http/1.1",
    "-----END CERTIFICATE-----",
    'Main ErrorLog: "/srv/www/logs/error.log"',
    # indented four spaces and more (openssl's -text and -resp_text output)
    "    OCSP Response Status: successful (0x0)",
    # a label, a column gap, a value (testssl.sh's result lines)
    " Server key usage             Digital Signature, Key Encipherment",
    " Server extended key usage    TLS Web Server Authentication",
    " Server key size              RSA 4096 bits",
])
def test_a_routine_field_is_capped_below_confident(kb: KnowledgeBase, line: str) -> None:
    hits = kb.search(line, limit=1)
    assert hits and hits[0].confidence < CONFIDENT
    _assert_capped(kb, line, hits[0], "a statement that says nothing is wrong")


def _assert_capped(kb: KnowledgeBase, text: str, hit: Hit, rule: str) -> None:
    """The rule caps the input's confidence: it is one of the query's caps, and the hit is
    at that cap or below it (named as what capped it when its words alone gave more)."""
    caps = dict(kb.build_query(text).caps)
    assert rule in caps, caps
    assert hit.confidence <= caps[rule]
    assert hit.why.capped_by in (rule, None)


def test_two_bare_keywords_rank_but_are_not_a_sure_answer(kb: KnowledgeBase) -> None:
    hits = kb.search("certificate chain", limit=1)
    assert hits[0].entry.id == "intermediate-ca-chain"  # the ranking is the same
    assert hits[0].confidence < CONFIDENT
    assert hits[0].why.capped_by == "two keywords"


@pytest.mark.parametrize("text", ["Handshake failure", "Having renewal problem"])
def test_two_words_stating_a_problem_are_a_hint_like_two_keywords(kb: KnowledgeBase,
                                                                  text: str) -> None:
    # A handshake fails for many reasons: two words do not single out one of them, whether
    # asked ("handshake failure?") or stated (issue 14: statements and questions alike).
    hit = kb.search(text, limit=1)[0]
    assert hit.confidence < CONFIDENT
    _assert_capped(kb, text, hit, "two keywords")


@pytest.mark.parametrize("line", [
    "no listening sockets available, shutting down",
    "Apache hangs at startup asking for the pass phrase",
    "Could not reliably determine the server's fully qualified domain name",
])
def test_a_statement_of_a_problem_is_not_capped(kb: KnowledgeBase, line: str) -> None:
    hit = kb.search(line, limit=1)[0]
    assert hit.why.capped_by not in ("a statement that says nothing is wrong", "two keywords")


def test_exact_signals_keep_their_confidence(kb: KnowledgeBase) -> None:
    # A routine-looking field that carries a signature or code is answered as before.
    hit = kb.search("SSL Library Error: error:0A0000C1:SSL routines::no shared cipher")[0]
    assert hit.entry.id == "no-shared-cipher" and hit.confidence >= CONFIDENT


def test_the_predicates() -> None:
    assert says_what_is_wrong("the server doesn't start")
    assert says_what_is_wrong("no listening sockets available")
    assert says_what_is_wrong("Apache hangs on reload")
    assert not says_what_is_wrong("Protocol  : TLSv1.3")
    assert not says_what_is_wrong("Verification: OK")
    assert looks_like_output("Protocol  : TLSv1.3", known_words=1)
    assert looks_like_output("Cipher is TLS_AES_256_GCM_SHA384", known_words=2)
    assert looks_like_output("Server certificate: subject: CN=localhost", known_words=4)
    assert not looks_like_output("support fancier regex features such as look-around", 5)
    assert looks_like_output("        Public Key Algorithm: rsaEncryption", known_words=4)
    assert looks_like_output(" Chain of trust               Ok", known_words=4)
    assert not looks_like_output("the chain of trust is ok but the browser says no", 6)
    assert parse("Main PID: 784 (httpd)").kind.value == "text"
