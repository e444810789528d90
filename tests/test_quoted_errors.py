"""An error message a plain FAQ's answer quotes as code is an exact signal of that entry
(issue 14 item 2: FAQs say which errors they answer in their answers, not only in titles)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from frontends.cli import Env, ExitCode, main
from kb import CONFIDENT, KnowledgeBase
from kb.signals import quoted_errors

QUOTED = Path(__file__).parent / "data" / "shapes" / "quoted-errors.md"


@pytest.fixture(scope="module")
def spool() -> KnowledgeBase:
    return KnowledgeBase.from_paths([QUOTED], semantic=False)


def test_only_error_messages_quoted_inline_are_signals(spool: KnowledgeBase) -> None:
    """Commands, option flags, paths, settings and fenced sessions are not error messages."""
    quotes = {e.id: quoted_errors(e) for e in spool.entries()}
    assert quotes == {
        "the-daemon-does-not-start": ["spoolctl: command not found"],
        "why-are-my-jobs-rejected-at-night": ["cannot lock spool: held by another writer"],
        "how-do-i-rename-a-printer": [],
    }


def test_an_entry_with_signatures_quotes_nothing(shipped: KnowledgeBase) -> None:
    """Its author listed the strings it answers; the answer's code spans add none."""
    assert all(not quoted_errors(e) for e in shipped.entries() if e.signatures)


@pytest.mark.parametrize(("line", "entry"), [
    ("bash: spoolctl: command not found", "the-daemon-does-not-start"),
    ("2026-12-03 01:12:09 ERROR submit job 4411: cannot lock spool: held by another writer",
     "why-are-my-jobs-rejected-at-night"),
])
def test_a_line_printing_a_quoted_error_is_answered(spool: KnowledgeBase, line: str,
                                                    entry: str) -> None:
    (hit,) = spool.search(line, limit=1)
    assert hit.entry.id == entry and hit.confidence >= CONFIDENT
    assert [(s.type, s.value) for s in hit.why.signals][0][0] == "quote"


def test_a_fenced_error_line_is_not_a_signal(spool: KnowledgeBase) -> None:
    hits = spool.search("spoolctl: daemon failed to bind socket", limit=1)
    assert not hits or not hits[0].why.signals


def test_a_question_quoting_the_error_is_answered_by_its_words(spool: KnowledgeBase) -> None:
    """In a question the quote is context, as a title is: no signal, the words decide."""
    text = "why do my jobs fail at night with cannot lock spool: held by another writer?"
    (hit,) = spool.search(text, limit=1)
    assert hit.entry.id == "why-are-my-jobs-rejected-at-night" and not hit.why.signals


def test_diagnose_reports_the_quoted_error(tmp_path: Path) -> None:
    log = tmp_path / "spool.log"
    error = "ERROR submit job {}: cannot lock spool: held by another writer"
    log.write_text("2026-12-03 01:12:09 INFO started\n"
                   + "".join(f"2026-12-03 01:12:1{n} {error.format(n)}\n" for n in (7, 8)),
                   encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    code = main(["--no-default", "--kb", str(QUOTED), "diagnose", "--json", str(log)],
                Env(stdin=io.StringIO(""), stdout=out, stderr=err))
    assert code == ExitCode.FOUND, err.getvalue()
    assert '"why-are-my-jobs-rejected-at-night"' in out.getvalue()
    assert '"count": 2' in out.getvalue()


class _Answer:
    signatures = ()
    title = "t"
    questions = ()

    def __init__(self, answer: str) -> None:
        self.answer = answer


@pytest.mark.parametrize(("answer", "quotes"), [
    # a fence closes only on a line of the same character, at least as long
    ("```\n`fatal: inside a fence`\n~~~\n`fatal: still inside`\n```\n`fatal: after it`",
     ["fatal: after it"]),
    # an unclosed fence runs to the end of the answer
    ("`cannot read the key` first\n````\n`cannot see this one`", ["cannot read the key"]),
    # a backtick line whose info string holds a backtick opens no fence
    ("``` `cannot parse this line` ```", ["cannot parse this line"]),
    # unclosed or unmatched backtick runs quote nothing and cost a bounded look ahead
    ("` " + "error in the middle " * 500, []),
    # a span holding backticks ("`` `x` ``") quotes what is inside them
    ("`` `failed to bind the socket` ``", ["failed to bind the socket"]),
])
def test_code_spans_are_read_as_commonmark_does(answer: str, quotes: list[str]) -> None:
    assert quoted_errors(_Answer(answer)) == quotes
