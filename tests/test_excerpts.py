"""A pasted excerpt of a failed start: the lines that only report the outcome
(kb/data/httpd_outcomes.tsv) are context when another line gives signals
(kb.signals.Signals.context), so ``search`` names the cause, as ``diagnose`` reports the episode
under it."""

from __future__ import annotations

from pathlib import Path

from kb import CONFIDENT, KnowledgeBase, default_content_dir

PREFIX = "[Tue Dec 01 09:59:20.5{n:05d} 2026] [ssl:emerg] [pid 20678:tid 20678] "
CAUSE = "AH02572: Failed to configure at least one certificate and key for www.example.com:443"
QUEUE = ("SSL Library Error: error:0A0000B1:SSL routines::no certificate assigned")
FATAL = "AH02312: Fatal error initialising mod_ssl, exiting."
FAILED = "AH00016: Configuration Failed"
SIDE = Path(__file__).parent / "data" / "side" / "syncbox.md"


def _excerpt(*messages: str) -> str:
    return "\n".join(PREFIX.format(n=n) + m for n, m in enumerate(messages))


def test_outcome_lines_are_context_of_the_cause(shipped: KnowledgeBase) -> None:
    text = _excerpt(CAUSE, QUEUE, FATAL) + "\n" + FAILED
    first, *rest = shipped.search(text, limit=3)
    assert first.entry.id == "no-certificate-configured" and first.confidence >= CONFIDENT
    assert not any(s.context for s in first.why.signals)
    (outcome,) = [h for h in rest if h.entry.id == "apache-wont-start"]
    assert outcome.why.signals and all(s.context for s in outcome.why.signals)
    assert outcome.confidence < CONFIDENT
    assert {s["context"] for s in outcome.as_json()["why"]["signals"]} == {True}
    assert "context" not in first.as_json()["why"]["signals"][0]
    # The log pipe reports the same problem: the episode under its cause.
    (problem,) = shipped.diagnose(text.splitlines()).problems
    assert problem.entry.id == first.entry.id


def test_outcome_lines_alone_keep_their_answer(shipped: KnowledgeBase) -> None:
    for text in (PREFIX.format(n=0) + FATAL, _excerpt(FATAL, FAILED)):
        (hit,) = shipped.search(text, limit=1)
        assert hit.entry.id == "apache-wont-start" and hit.confidence >= CONFIDENT
        assert not any(s.context for s in hit.why.signals)


def test_a_line_that_is_both_keeps_its_signals(shipped: KnowledgeBase) -> None:
    # A line with a cause's code and an outcome's is no outcome line (kb.episodes.role_of):
    # what it gives counts in full; only the other line's AH00016 is context.
    text = _excerpt(CAUSE + " " + FATAL, FAILED)
    hits = {h.entry.id: h for h in shipped.search(text, limit=5)}
    assert not any(s.context for s in hits["no-certificate-configured"].why.signals)
    context = {s.value: s.context for s in hits["apache-wont-start"].why.signals}
    assert context["AH02312"] is False and context["AH00016"] is True


def test_context_beside_another_collection(cache_dir: Path) -> None:
    # The merged signal table numbers the hits; each collection's query gets that context.
    both = KnowledgeBase.from_paths([default_content_dir(), SIDE])
    text = _excerpt(CAUSE, FATAL) + "\n" + FAILED
    first, *rest = both.search(text, limit=3)
    assert (first.entry.collection, first.entry.id) == ("mod_ssl", "no-certificate-configured")
    assert all(s.context for h in rest if h.entry.id == "apache-wont-start"
               for s in h.why.signals)
