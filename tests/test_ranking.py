"""Ranking: every example ranks its entry first, seed questions find their entry, golden
top ids, and the regression gate on the public eval set."""

from __future__ import annotations

import csv
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from kb import CONFIDENT, KnowledgeBase, default_content_dir

ROOT = Path(__file__).resolve().parent.parent
DEV_SET = ROOT.parent / "shared" / "eval" / "dev.jsonl"
NOISE = [
    "[Thu Jun 06 08:17:54.258635 2024] [mpm_prefork:notice] [pid 19579] AH00171: Graceful "
    "restart requested, doing restart",
    "203.0.113.9 - - [05/Mar/2024:10:12:01 +0100] \"GET /index.html HTTP/1.1\" 200 5120",
    "[Sat Nov 28 07:04:40.721987 2026] [socache_shmcb:info] [pid 10808:tid 10808] AH00830: "
    "Shared memory socache initialised",
]


def _examples(kb: KnowledgeBase) -> list[tuple[str, str]]:
    return [(e.id, example) for e in kb.entries() for example in e.examples]


def test_every_example_ranks_its_own_entry_first(shipped: KnowledgeBase) -> None:
    wrong = []
    for entry_id, example in _examples(shipped):
        hit = shipped.search(example, limit=1)[0]
        if hit.entry.id != entry_id or hit.confidence < CONFIDENT:
            wrong.append(f"{entry_id}: got {hit.entry.id} {hit.confidence:.2f} <- {example[:90]}")
    assert not wrong, "\n".join(wrong)


def _seed_questions() -> list[tuple[str, str]]:
    table = default_content_dir() / "mod_ssl" / "required-ids.tsv"
    with table.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [(row["id"], row["seed_question"]) for row in rows]


@pytest.mark.parametrize(("entry_id", "question"), _seed_questions())
def test_seed_question_finds_its_entry(entry_id: str, question: str,
                                       shipped: KnowledgeBase) -> None:
    assert shipped.search(question, limit=1)[0].entry.id == entry_id


@pytest.mark.parametrize("line", NOISE)
def test_routine_lines_stay_silent(line: str, shipped: KnowledgeBase) -> None:
    hits = shipped.search(line)
    assert not hits or hits[0].confidence < CONFIDENT


def test_ranking_golden(shipped: KnowledgeBase, golden: Any) -> None:
    """Top-3 ids for every example line and seed question: a ranking change is a diff."""
    texts = [example for _, example in _examples(shipped)] + [q for _, q in _seed_questions()]
    golden("ranking", {t[:160]: [h.entry.id for h in shipped.search(t, limit=3)] for t in texts})


def test_why_is_json_ready(shipped: KnowledgeBase) -> None:
    import json

    hit = shipped.search("AH02565: Certificate and private key do not match")[0]
    data = json.loads(json.dumps(hit.why.as_json()))
    assert data["signals"] and data["signals"][0]["type"] in {"code", "signature"}
    assert {"bm25f", "coverage", "terms"} <= set(data["text"])


def _eval_module() -> Any:
    spec = importlib.util.spec_from_file_location("kb_eval", ROOT / "scripts" / "eval.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _report(shipped: KnowledgeBase, cases_file: Path) -> Any:
    """scripts/eval.py's report of the shipped KB on one case file."""
    ev = _eval_module()
    cases = ev.load_cases(cases_file)
    return ev.evaluate(ev.kb_ranker(shipped), cases, shipped.entries(), ev.seed_ids(shipped),
                       CONFIDENT)


@pytest.mark.skipif(not DEV_SET.is_file(), reason="../shared/eval/dev.jsonl not beside the repo")
def test_regression_gate(shipped: KnowledgeBase) -> None:
    """Slightly below the issue's targets (0.95 / 0.85 / 0.95 / 2%) so ranking never silently
    regresses; scripts/eval.py prints the real figures."""
    report = _report(shipped, DEV_SET)
    assert report.rate("log", "top1") >= 0.93
    assert report.rate("question", "top1") >= 0.82
    assert report.rate("question", "top3") >= 0.92
    assert report.noise_fp_rate <= 0.05


HELDOUT_SET = ROOT / "eval" / "heldout.jsonl"


def test_heldout_gate(shipped: KnowledgeBase) -> None:
    """eval/heldout.jsonl: real cases collected apart from the content (eval/SOURCES.md).
    Gated a little below what it measured when added, so generalisation never silently drops."""
    report = _report(shipped, HELDOUT_SET)
    assert report.rate("log", "top1") >= 0.93
    assert report.rate("question", "top1") >= 0.76
    assert report.rate("question", "top3") >= 0.92
    assert report.noise_fp_rate <= 0.05


def test_eval_script_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        '{"text": "error:0A0000C1:SSL routines::no shared cipher", "kind": "log", '
        '"expected": ["no-shared-cipher"]}\n'
        '{"text": "AH00171: Graceful restart requested", "kind": "noise", "expected": []}\n',
        encoding="utf-8",
    )
    assert _eval_module().main([str(cases)]) == 0
    out = capsys.readouterr().out
    assert "log       n=  1  top-1 1.000" in out
    assert "baseline: plain whoosh BM25F" in out
    assert os.environ["KB_CACHE_DIR"]


FAQS = ROOT.parent / "shared" / "faqs"
FOREIGN_SET = ROOT / "eval" / "foreign.jsonl"
needs_faqs = pytest.mark.skipif(not FAQS.is_dir(), reason="../shared/faqs (the nine foreign "
                                "FAQ files eval/foreign.jsonl is labelled on) not beside the repo")


def _foreign(semantic: bool, with_default: bool = False) -> tuple[Any, Any]:
    """Pooled report and the answerable cases' figures of eval/foreign.jsonl."""
    ev = _eval_module()
    reports, unmatched = ev.foreign_reports(ev.load_cases(FOREIGN_SET), FAQS, with_default,
                                            False, semantic)
    assert unmatched == []  # every label names an entry the compiler made
    pooled = ev.Report()
    for report in next(iter(reports.values())).values():
        pooled.add(report)
    return pooled, ev._answerable(pooled)


@needs_faqs
def test_foreign_gate() -> None:
    """Nine real FAQs of other projects, 329 real questions (eval/FOREIGN-SOURCES.md); when
    added: top-1 0.586, confident answers right 0.887, confident and wrong 0.018."""
    pooled, answerable = _foreign(semantic=False)
    assert answerable.top1 / answerable.n >= 0.57
    assert pooled.confident_precision >= 0.85
    assert pooled.confident_wrong_rate <= 0.03


@needs_faqs
def test_foreign_gate_beside_the_shipped_faq() -> None:
    """Each foreign FAQ loaded beside the shipped one: the shipped entries take few of its
    questions (top-1 0.556 against 0.586 alone; confident answers right 0.837, confident
    and wrong 0.021, with the collection prior and posterior of kb.rank.MergedSearcher; a
    prior by entries alone and a posterior by priors alone gave 0.504 and 0.789)."""
    pooled, answerable = _foreign(semantic=False, with_default=True)
    assert answerable.top1 / answerable.n >= 0.54
    assert pooled.confident_precision >= 0.80
    assert pooled.confident_wrong_rate <= 0.03


def test_confident_answers_are_right(shipped: KnowledgeBase) -> None:
    """A confidence of 0.5 or more means right at least 9 times in 10 (issue 14): dev 1.00
    and heldout 0.98 when added."""
    for cases in (DEV_SET, HELDOUT_SET):
        if cases.is_file():
            assert _report(shipped, cases).confident_precision >= 0.95, cases.name


def test_shipped_figures_beside_the_foreign_faqs(shipped: KnowledgeBase,
                                                 cache_dir: Path) -> None:
    """The shipped FAQ beside the nine foreign FAQs ranks its own cases as it does alone:
    with them as one collection (a folder), and as nine (``--kb`` per file, as a user adds
    them; before the collection prior, questions fell from 0.976 to 0.756 on dev.jsonl and
    from 0.880 to 0.680 on heldout)."""
    if not FAQS.is_dir():
        pytest.skip("../shared/faqs not beside the repo")
    ev = _eval_module()
    files = sorted(p for p in FAQS.glob("*.md") if p.name != "SOURCES.md")
    for paths in ([FAQS], files):
        both = KnowledgeBase.from_paths([default_content_dir(), *paths], semantic=False)
        for cases_file in (HELDOUT_SET, DEV_SET):
            if not cases_file.is_file():
                continue
            cases = ev.load_cases(cases_file)
            alone = _report(shipped, cases_file)
            mixed = ev.evaluate(ev.kb_ranker(both), cases, both.entries(), ev.seed_ids(both),
                                CONFIDENT)
            for kind in ("log", "question"):
                assert mixed.rate(kind, "top1") >= alone.rate(kind, "top1") - 0.01, (
                    cases_file, kind, len(paths))


def test_one_word_is_never_a_confident_answer(shipped: KnowledgeBase) -> None:
    """A single word ("**Stopped", "renegotiation") is a hint: however rare it is in the FAQ,
    it cannot say which situation the user is in. Every distinct title word, bare and with
    the punctuation a log or a terminal puts around it."""
    words = sorted({w for e in shipped.entries() for w in e.title.split() if w.isalpha()
                    and len(w) > 3})
    assert len(words) > 100
    for word in words:
        for text in (word, f"**{word.capitalize()}", f"{word}?"):
            hits = shipped.search(text)
            assert not hits or hits[0].confidence < CONFIDENT, (text, hits[0].entry.id)


def test_a_question_word_only_example_lines_hold_is_unknown(cache_dir: Path) -> None:
    """A question's word that the collection has only in its example log lines (the
    signatures field, which counts little for a question) leaves the question as unexplained
    as a word no entry has: "failed to get endpoints on Android" is not answered confidently
    by the one entry about Android because a log example elsewhere says "endpoint"."""
    from kb import Entry, Source

    def kb(example: str) -> KnowledgeBase:
        return KnowledgeBase.from_entries([
            Entry(id="android-trust", title="Why do old Android phones fail on my site?",
                  answer="Old Android releases do not trust the new root.",
                  source=Source(file="f.md", line=1)),
            Entry(id="port-clash", title="Why does the container not start?",
                  answer="Another service holds the port.", examples=(example,),
                  source=Source(file="f.md", line=9)),
        ])

    question = "failed to get endpoints on Android"
    (known,) = kb("driver failed programming external connectivity on endpoint web").search(
        question, limit=1)
    (unknown,) = kb("driver failed programming external connectivity on web").search(
        question, limit=1)
    assert known.entry.id == unknown.entry.id == "android-trust"
    assert known.why.explained == pytest.approx(unknown.why.explained, rel=0.05)
    assert known.confidence < CONFIDENT


def test_a_statement_is_searched_with_the_words_it_quotes(shipped: KnowledgeBase) -> None:
    """A statement in words (Kind.TEXT) is about what it quotes: the words of its quoted
    values are search terms (a log line's quoted values are variables and stay masked)."""
    from kb.logline import Kind, parse
    from kb.rank import text_for_terms

    text = "after the upgrade apachectl fails with 'mod_ssl.so: undefined symbol: SSL_get1_peer'"
    parsed = parse(text)
    assert parsed.kind is Kind.TEXT
    terms = text_for_terms(parsed)
    assert "undefined symbol" in terms and "SSL_get1_peer" in terms
    (hit,) = shipped.search(text, limit=1)
    assert hit.entry.id == "mod-ssl-library-missing"
    # What varies inside the quotes is masked still; a log line keeps masking the value.
    assert "203.0.113.9" not in text_for_terms(parse("it says 'refused by 203.0.113.9'"))
    assert "refused" not in text_for_terms(parse("[error] it says 'refused by 203.0.113.9'"))


def test_a_question_s_words_scattered_over_phrasings_are_no_phrasing_of_it() -> None:
    """The lead a first hit gets from its title explaining the question (kb.rank._titled) is
    that of its best single phrasing, the title or one question phrasing: words matched one
    in each of two phrasings make no phrasing of the question ("switch is missing from the
    man page" is neither "padlock missing on the page" nor "switch from http to https")."""
    from kb.bm25 import Contribution, Match
    from kb.rank import _titled
    from kb.records import EntryRecord

    entry = EntryRecord({"id": "mixed-content", "title": "Redirecting HTTP to HTTPS",
                         "questions": ["the padlock is missing on the page",
                                       "how do I switch from http to https"]})
    weight = {"switch": 1.0, "miss": 1.0, "page": 1.0, "man": 1.0}
    matched = Match(0, 9.0, [Contribution("title", t, 3.0) for t in ("switch", "miss", "page")]
                    + [Contribution("answer", "man", 1.0)])
    assert _titled(entry, matched, weight, 4.0) == pytest.approx(0.5)  # "missing ... page"
    whole = EntryRecord({**entry.data, "questions": ["switch is missing from the page"]})
    assert _titled(whole, matched, weight, 4.0) == pytest.approx(0.75)
    assert _titled(entry, Match(0, 1.0, [Contribution("answer", "man", 1.0)]), weight, 4.0) == 0


# Apache 2.4 lines built from httpd 2.4.x's own format strings (modules/ssl, docs/sources.md),
# documentation values for the variables: each code reaches the entry whose answer fixes it.
HTTPD_FORMAT_LINES = [
    ('private-key-load-failed',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 2525:tid 2525] '
     "(13)Permission denied: AH02574: Init: Can't open server private key file "
     '/etc/ssl/private/www.example.com.key'),
    ('key-cert-match',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 2525:tid 2525] AH02326: '
     'proxy client certificate and private key do not match [subject: '
     'CN=proxy-client.example.com / issuer: CN=Example Client CA / serial: 1A2B3C / '
     'notbefore: Dec  1 00:00:00 2026 GMT / notafter: Dec  1 00:00:00 2027 GMT]'),
    ('hsm-pkcs11-keys',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 2525:tid 2525] AH10495: '
     'Init: OSSL_STORE_INFO_CERT lookup failed for certificate identifier '
     "`pkcs11:token=web;object=www-cert;type=cert'"),
    ('hsm-pkcs11-keys',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 2525:tid 2525] AH10149: '
     'Init: Failed to initialize engine pkcs11 for private key '
     'pkcs11:token=web;object=www-key;type=private'),
    ('hsm-pkcs11-keys',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 2525:tid 2525] AH10136: '
     'Init: Unable to get the certificate'),
    ('hsm-pkcs11-keys',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 2525:tid 2525] AH10133: '
     'Init: Unable to get the private key'),
    ('client-cert-revocation',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 2525:tid 2525] AH01901: Host '
     'www.example.com:443: unable to configure X.509 CRL storage for certificate '
     'revocation'),
    ('client-cert-required',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:error] [pid 2525:tid 2531] [client '
     '203.0.113.5:51234] AH02262: Re-negotiation handshake failed: Client '
     'verification failed'),
    ('tls13-post-handshake-auth',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:error] [pid 2525:tid 2531] [client '
     '203.0.113.5:51234] AH02257: could not buffer message body to allow SSL '
     'renegotiation to proceed'),
    ('tls13-post-handshake-auth',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:error] [pid 2525:tid 2531] [client '
     '203.0.113.5:51234] AH02018: request body exceeds maximum size (131072) for SSL '
     'buffer'),
    ('sslprotocol-config-rejected',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:warn] [pid 2525:tid 2525] AH02532: '
     "SSLProtocol: Protocol 'TLSv1.3' overrides already set parameter(s). Check if a "
     '+/- prefix is missing.'),
    ('supported-ciphers',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:warn] [pid 2525:tid 2531] [client '
     '203.0.113.5:51234] AH02253: Unable to reconfigure (per-directory) permitted SSL '
     'ciphers'),
    ('sslmutex-permission',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:error] [pid 2530:tid 2530] '
     '(13)Permission denied: AH01946: Cannot reinit ssl-stapling-refresh mutex with '
     "file `/var/lock/apache2/ssl-stapling-refresh.2525'"),
    ('sslmutex-permission',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:emerg] [pid 2525:tid 2525] AH01959: '
     'SSLStapling: cannot initialise stapling mutex'),
    ('remove-passphrase-dialog',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:error] [pid 2525:tid 2525] AH01966: '
     "Init: Failed to create pass phrase pipe '/usr/local/sbin/httpd-passphrase'"),
    ('ocsp-stapling-errors',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:error] [pid 2525:tid 2531] (670002)Name '
     'or service not known: [client 203.0.113.5:51234] AH01972: could not resolve '
     'address of OCSP responder ocsp.example.com'),
    ('ocsp-stapling-errors',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:error] [pid 2525:tid 2531] (70007)The '
     'timeout specified has expired: [client 203.0.113.5:51234] AH01977: failed '
     'reading line from OCSP server'),
    ('ocsp-stapling-errors',
     '[Tue Dec 01 07:51:20.279560 2026] [ssl:error] [pid 2525:tid 2531] [client '
     '203.0.113.5:51234] AH01980: bad response from OCSP server: 404 Not Found'),
]


@pytest.mark.parametrize(("entry_id", "line"), HTTPD_FORMAT_LINES)
def test_httpd_format_line_finds_its_entry(entry_id: str, line: str,
                                          shipped: KnowledgeBase) -> None:
    hits = shipped.search(line)
    assert hits and hits[0].entry.id == entry_id, [h.entry.id for h in hits]
    assert hits[0].confidence >= CONFIDENT
