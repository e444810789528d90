"""Collections side by side (issue 14 item 4): each path its own index and confidence, hits
name their collection, --collection restricts, a broken extra file is skipped with one
warning (--strict: an error) and never disables the others."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from frontends.cli import Env, ExitCode, main
from kb import CONFIDENT, ContentError, KnowledgeBase, UnknownEntryError, default_content_dir

SHAPES = Path(__file__).parent / "data" / "shapes"
SYNCBOX = Path(__file__).parent / "data" / "side" / "syncbox.md"  # a made-up sync tool
BROKEN = "---\nlast_review: x\n---\n\n## Why?\n\n```kb\nidd: nope\n```\n"


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(stdin=io.StringIO(""), stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_each_path_is_a_named_collection(shipped: KnowledgeBase, cache_dir: Path) -> None:
    kb = KnowledgeBase.from_paths([shipped.entries()[0].source.file.rsplit("/", 2)[0],
                                   SHAPES / "mixed-levels.md"])
    assert kb.collections() == ["mod_ssl", "mixed-levels"]
    (hit,) = kb.search("how do I restore a knob backup", limit=1)
    assert (hit.entry.collection, hit.entry.id) == ("mixed-levels", "how-do-i-restore-a-backup")
    assert hit.as_json()["collection"] == "mixed-levels"
    # The shipped FAQ keeps its answers beside another collection.
    (hit,) = kb.search("AH02565: Certificate and private key do not match", limit=1)
    assert (hit.entry.collection, hit.entry.id) == ("mod_ssl", "key-cert-match")


def test_only_restricts_to_named_collections(cache_dir: Path) -> None:
    kb = KnowledgeBase.from_paths([SHAPES / "mixed-levels.md", SHAPES / "details.md"])
    assert {e.collection for e in kb.only(["details"]).entries()} == {"details"}
    with pytest.raises(UnknownEntryError, match="no collection named nope"):
        kb.only(["nope"])


def test_a_broken_extra_file_is_skipped_with_one_warning(tmp_path: Path,
                                                         cache_dir: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text(BROKEN, encoding="utf-8")
    kb = KnowledgeBase.from_paths([SHAPES / "details.md", broken])
    assert kb.collections() == ["details"]
    (warning,) = kb.warnings
    assert warning.startswith(f"{broken}:8: unknown metadata key 'idd'")
    assert warning.endswith(f"collection 'broken' ({broken}) skipped (--strict makes this an "
                            "error)")
    with pytest.raises(ContentError):
        KnowledgeBase.from_paths([SHAPES / "details.md", broken], strict=True)


def test_cli_broken_extra_file_keeps_the_shipped_faq(tmp_path: Path, cache_dir: Path) -> None:
    broken = tmp_path / "broken.md"
    broken.write_text(BROKEN, encoding="utf-8")
    code, out, err = _run("--kb", str(broken), "search", "--json", "-n", "1",
                          "AH02565: Certificate and private key do not match")
    assert code == ExitCode.OK and json.loads(out)["hits"][0]["id"] == "key-cert-match"
    assert err.count("kb: warning:") == 1 and "skipped" in err
    code, _, err = _run("--strict", "--kb", str(broken), "search", "x")
    assert code == ExitCode.CONTENT


def test_cli_collection_option(cache_dir: Path) -> None:
    code, out, _ = _run("--kb", str(SHAPES / "details.md"), "--collection", "details",
                        "search", "--json", "sync stops at 99%")
    hits = json.loads(out)["hits"]
    assert code == ExitCode.OK and {h["collection"] for h in hits} == {"details"}
    code, _, err = _run("--collection", "nope", "search", "x")
    assert code == ExitCode.UNKNOWN_ID and "loaded: mod_ssl" in err


def test_diagnose_without_signatures_on_the_cli(cache_dir: Path) -> None:
    code, out, _ = _run("--no-default", "--kb", str(SHAPES / "mixed-levels.md"), "diagnose",
                        "--unmatched", str(cache_dir.parent / "unmatched.md"))
    assert code == ExitCode.OK and "0 problem(s)" in out


@pytest.fixture(scope="module")
def beside() -> KnowledgeBase:
    """The shipped FAQ beside a small FAQ of another tool whose users meet TLS errors too."""
    return KnowledgeBase.from_paths([default_content_dir(), SYNCBOX], semantic=False)


@pytest.mark.parametrize(("question", "collection", "entry"), [
    # A word only one collection has says which collection the question is about, even where
    # the other collection has more to say about the rest of the words.
    ("syncbox fails with x509 certificate signed by unknown authority", "syncbox",
     "why-does-syncbox-say-x509-certificate-signed-by-unknown"),
    ("can syncbox use a proxy", "syncbox", "can-syncbox-go-through-an-http-proxy"),
    ("two-way synchronization", "syncbox", "how-do-i-run-a-two-way-sync-between-two-remotes"),
    ("apache says the certificate and private key do not match", "mod_ssl", "key-cert-match"),
    ("how do I list which ciphers my apache build supports", "mod_ssl", "supported-ciphers"),
])
def test_the_collection_a_question_is_about_answers_it(beside: KnowledgeBase, question: str,
                                                       collection: str, entry: str) -> None:
    (hit,) = beside.search(question, limit=1)
    assert (hit.entry.collection, hit.entry.id) == (collection, entry)


def test_a_question_both_collections_have_the_words_of_is_less_sure(beside: KnowledgeBase,
                                                                     shipped: KnowledgeBase
                                                                     ) -> None:
    """Text evidence: alone, each FAQ answers this confidently (the shipped one at 0.95);
    side by side, where both have the words, the top hit's confidence is its own
    collection's scaled by that collection's posterior."""
    question = "how do I use an HTTP proxy"
    (mixed,) = beside.search(question, limit=1)
    own = shipped if mixed.entry.collection == "mod_ssl" else KnowledgeBase.from_paths(
        [SYNCBOX], semantic=False)
    (alone,) = own.search(question, limit=1)
    assert alone.entry.id == mixed.entry.id
    assert alone.confidence >= CONFIDENT and not mixed.why.signals
    assert mixed.confidence <= alone.confidence - 0.2
    # The posterior is part of the explanation (None with one collection).
    posterior = mixed.why.collection_posterior
    assert posterior is not None and 0 < posterior < 1
    assert mixed.confidence == pytest.approx(alone.confidence * posterior)
    assert mixed.as_json()["why"]["collection_posterior"] == round(posterior, 3)
    assert alone.why.collection_posterior is None
    code, out, _ = _run("--kb", str(SYNCBOX), "explain", question)
    assert code == 0 and (f"collection: {posterior:.2f} sure the answer is in "
                          f"{mixed.entry.collection}") in out


def test_an_exact_signal_keeps_its_confidence_beside_another_collection(
        beside: KnowledgeBase, shipped: KnowledgeBase) -> None:
    """A signature is its collection's own evidence: the Go client's message matches one of
    the shipped FAQ's signatures, so its answer stays as confident as alone, and the other
    collection's entry on the same message comes next."""
    question = "Getting error x509: certificate signed by unknown authority"
    (alone,) = shipped.search(question, limit=1)
    hits = beside.search(question, limit=2)
    assert alone.why.signals and hits[0].entry.id == alone.entry.id
    assert hits[0].confidence == alone.confidence >= CONFIDENT
    assert hits[1].entry.collection == "syncbox"


def test_an_input_that_names_a_collection_is_about_it(beside: KnowledgeBase,
                                                     shipped: KnowledgeBase) -> None:
    """The same shipped signature, in a line that names the other tool, is that tool's
    error: its collection answers first, and the shipped hit ranks as text (its confidence
    scaled by the posterior, the explanation saying why)."""
    text = "syncbox: Failed to sync: x509: certificate signed by unknown authority"
    (alone,) = shipped.search(text, limit=1)
    assert alone.why.signals and alone.confidence >= CONFIDENT
    hits = beside.search(text, limit=20)
    assert hits[0].entry.collection == "syncbox"
    (shipped_hit,) = [h for h in hits if h.entry.id == alone.entry.id]
    posterior = shipped_hit.why.collection_posterior
    assert shipped_hit.why.named_elsewhere and posterior is not None
    assert shipped_hit.confidence <= alone.confidence * posterior + 1e-9
    code, out, _ = _run("--kb", str(SYNCBOX), "explain", "--limit", "20", text)
    assert code == 0 and "the input names another collection" in out
    # Without the name the shipped signature keeps its place and confidence.
    (plain,) = beside.search("Failed to sync: x509: certificate signed by unknown authority",
                             limit=1)
    assert plain.entry.id == alone.entry.id and not plain.why.named_elsewhere


def test_a_question_only_one_collection_knows_keeps_its_confidence(beside: KnowledgeBase,
                                                                   shipped: KnowledgeBase
                                                                   ) -> None:
    for text in ("apache says the certificate and private key do not match",
                 "[Sun Oct 01 10:00:00.123456 2023] [ssl:emerg] [pid 1] AH02565: Certificate and "
                 "private key localhost:443:0 from /etc/ssl/a.crt and /etc/ssl/a.key do not match"):
        (alone,) = shipped.search(text, limit=1)
        (mixed,) = beside.search(text, limit=1)
        assert mixed.entry.id == alone.entry.id
        assert CONFIDENT <= mixed.confidence <= alone.confidence
        assert mixed.confidence >= alone.confidence - 0.1


def test_confidence_never_rises_down_a_merged_list(beside: KnowledgeBase) -> None:
    """Each collection's hits are in confidence order; merged, they stay so."""
    questions = [e.title for e in beside.entries()] + [
        q for e in beside.entries() for q in e.questions[:1]]
    for question in questions:
        confidences = [h.confidence for h in beside.search(question, limit=6)]
        assert confidences == sorted(confidences, reverse=True), question


def test_diagnose_beside_many_collections_finds_what_it_finds_alone(shipped: KnowledgeBase
                                                                    ) -> None:
    """Exact signals are their collection's own: beside a dozen other FAQs (sharing words
    like certificate, key and error with the log) the lab log's problems, counts and
    confidences are those of the shipped FAQ alone (the collection posterior once cut an
    AH02565 line from 0.92 to 0.43 beside nine real FAQs, and diagnose reported nothing)."""
    log = (Path(__file__).parent / "data" / "lab" / "error.log").read_text(
        encoding="utf-8").splitlines()
    others = [SYNCBOX, *sorted(SHAPES.glob("*.md"))]
    many = KnowledgeBase.from_paths([default_content_dir(), *others], semantic=False)

    def problems(kb: KnowledgeBase) -> list[tuple[str, int, float]]:
        found = kb.diagnose(log)
        return [(p.entry.id, p.count, p.confidence) for p in found.problems]

    alone = problems(shipped)
    assert len(alone) >= 10
    assert problems(many) == alone


def test_small_and_empty_collections_do_not_take_the_shipped_answers(
        tmp_path: Path, shipped: KnowledgeBase) -> None:
    """Beside eleven FAQs of one to six entries and an empty file: a collection without any
    of the question's words takes no share of the posterior, and a tiny collection's weak
    match does not outrank a strong one (its noise level is not 0), so no confident answer
    is listed below an unconfident one (found by a review: a 0.00 hit came first and capped
    the right answer at 0)."""
    (tmp_path / "empty.md").write_text("")
    many = KnowledgeBase.from_paths([default_content_dir(), *sorted(SHAPES.glob("*.md")),
                                     tmp_path / "empty.md"], semantic=False)
    for question, entry in (
            ("how do I use an HTTP proxy", "ssl-proxy-not-enabled"),
            ("apache says the certificate and private key do not match", "key-cert-match"),
            ("how do I list which ciphers my apache build supports", "supported-ciphers"),
            ("SSLCertificateChainFile is deprecated", "intermediate-ca-chain")):
        (alone,) = shipped.search(question, limit=1)
        hits = many.search(question, limit=5)
        assert (hits[0].entry.collection, hits[0].entry.id) == ("mod_ssl", entry), question
        assert hits[0].confidence >= 0.75 * alone.confidence, question
        confident = [h.confidence >= CONFIDENT for h in hits]
        assert confident == sorted(confident, reverse=True), question


def _faq(path: Path, entries: list[tuple[str, str]]) -> Path:
    path.write_text("".join(f"## {title}\n\n{answer}\n\n" for title, answer in entries),
                    encoding="utf-8")
    return path


def test_a_collection_without_an_answer_takes_no_share_and_does_not_rank_first(
        tmp_path: Path) -> None:
    """A collection whose words are all in the question but whose best hit has confidence 0
    (two identical notes: neither leads) beside one with a real answer: the answer keeps
    its own confidence and comes first (found by a review: the notes took the posterior
    and ranked above the answer, and the confidence ceiling capped it at 0)."""
    filler = [(f"How do I set option w{i}x of part p{i}q?", f"Set w{i}x in the p{i}q section "
               f"and restart; see the reference for part p{i}q.") for i in range(300)]
    parts = _faq(tmp_path / "parts.md", [*filler, (
        "How do I tune the zorblax quux flange?",
        "Loosen the two flange screws, turn the zorblax until the quux lines up, tighten.")])
    notes = _faq(tmp_path / "notes.md", [("First note", "Zorblax quux flange."),
                                         ("Second note", "Zorblax quux flange.")])
    question = "how do I tune the zorblax quux flange"
    (alone,) = KnowledgeBase.from_paths([parts], semantic=False).search(question, limit=1)
    assert alone.confidence >= CONFIDENT
    both = KnowledgeBase.from_paths([parts, notes], semantic=False)
    hits = both.search(question, limit=3)
    assert (hits[0].entry.collection, hits[0].entry.id) == ("parts", alone.entry.id)
    assert hits[0].confidence == pytest.approx(alone.confidence)
    assert all(h.confidence == 0 for h in hits[1:] if h.entry.collection == "notes")


def test_the_text_model_counts_words_too_common_to_keep_postings(tmp_path: Path) -> None:
    """A word in more entries than the index keeps posting lists for (kb.bm25.common_cut)
    still counts in the collection prior's text model with its true frequency (it read
    as 0, so a collection full of its own name looked as if it lacked it), and asking for
    frequencies reads no posting list into the index's cache."""
    from kb.bm25 import common_cut
    from kb.rank import MergedSearcher

    n = common_cut(0) + 100
    big = _faq(tmp_path / "big.md", [(f"How do I use the frobnicator with w{i}x?",
                                      f"Start the frobnicator with --w{i}x; the frobnicator "
                                      "reads it at start.") for i in range(n)])
    kb = KnowledgeBase.from_paths([big, SYNCBOX], semantic=False)
    searcher = kb.searcher
    assert isinstance(searcher, MergedSearcher)
    index = searcher.parts[0][1].index
    assert index.df("answer", "frobnic") == n > common_cut(n)
    assert index.frequency("answer", "frobnic") == pytest.approx(2 * n)
    assert index.frequency("answer", "nosuchword") == 0.0
    assert not index._postings  # noqa: SLF001 - the cache the prior must not fill
    (hit,) = kb.search("how do I use the frobnicator with w7x", limit=1)
    assert hit.entry.collection == "big" and hit.confidence >= CONFIDENT


CLAIMING = """# Mirrorbox FAQ

## Uploads to my bucket stop with a certificate error

A bucket behind a proxy that re-signs traffic makes every upload stop with
`x509: certificate signed by unknown authority`. Give mirrorbox the proxy's CA bundle.

## How do I resume an interrupted upload?

Run the same upload again: finished chunks are skipped.
"""


def test_a_line_two_collections_claim_is_shared_by_its_other_words(
        tmp_path: Path, shipped: KnowledgeBase) -> None:
    """The shipped FAQ's signature and a foreign answer's quoted error claim the same string:
    neither keeps its confidence alone; the words outside the string say whose it is."""
    faq = tmp_path / "mirrorbox.md"
    faq.write_text(CLAIMING, encoding="utf-8")
    both = KnowledgeBase.from_paths([default_content_dir(), faq], semantic=False)
    error = "x509: certificate signed by unknown authority"
    (alone,) = shipped.search(f"tls: failed to verify certificate: {error}", limit=1)
    assert alone.why.signals and alone.confidence >= CONFIDENT
    for text, first in [(f"tls: failed to verify certificate: {error}", "mod_ssl"),
                        (f"upload to bucket stopped: {error}", "mirrorbox")]:
        hits = both.search(text, limit=5)
        claims = [h for h in hits if h.why.signals]
        assert {h.entry.collection for h in claims} == {"mod_ssl", "mirrorbox"}
        assert hits[0].entry.collection == first
        assert sum(h.confidence for h in claims) <= alone.confidence + 1e-9
        shares = {h.entry.collection: h.why.signal_share or 0.0 for h in claims}
        assert all(h.why.signal_share is not None for h in claims)
        assert sum(shares.values()) == pytest.approx(1.0)
        assert shares[first] > 0.5 and hits[0].why.as_json()["signal_share"] > 0.5
    # A line only one collection's signals claim keeps its confidence, and says so.
    (own,) = both.search("AH02572: Failed to configure at least one certificate and key",
                         limit=1)
    assert own.why.signals and own.why.signal_share is None
