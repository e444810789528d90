"""Compiler: Markdown -> entries (golden files) and file:line errors (exact messages)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kb import ContentError
from kb.compiler import compile_paths, compile_text, slugify

DATA = Path(__file__).parent / "data" / "faq"


def _as_data(path: Path) -> list[dict[str, Any]]:
    entries = compile_paths([path])
    out = []
    for entry in entries:
        item = entry.model_dump(mode="json")
        item["source"] = f"{Path(item['source']['file']).name}:{item['source']['line']}"
        out.append(item)
    return out


@pytest.mark.parametrize("name", sorted(p.stem for p in DATA.glob("*.md")))
def test_compiler_golden(name: str, golden: Any) -> None:
    golden(f"compile-{name}", _as_data(DATA / f"{name}.md"))


def test_plain_faq_needs_no_annotations() -> None:
    entries = compile_paths([DATA / "plain.md"])
    assert [(e.id, e.section) for e in entries] == [
        ("why-does-my-widget-not-connect", "Networking"),
        ("how-do-i-reset-a-widget", "Networking"),
        ("why-does-my-widget-get-hot", "Power"),
    ]
    assert "#### Note" in entries[1].answer  # deeper headings belong to the answer


def test_metadata_block_is_removed_from_the_answer() -> None:
    entry = compile_paths([DATA / "annotated.md"])[0]
    assert "```kb" not in entry.answer
    assert entry.answer == "Turn it off with `GadgetPrompt off`."
    assert [s.kind.value for s in entry.signatures] == ["literal", "regex"]


def test_slugify() -> None:
    assert slugify("How can I change the pass-phrase?") == "how-can-i-change-the-pass-phrase"
    assert slugify("Ünïcode ½ title!") == "unicode-12-title"
    assert slugify("???") == "entry"


def _errors(text: str) -> list[str]:
    with pytest.raises(ContentError) as info:
        compile_text(text, name="faq.md")
    return info.value.problems


def test_duplicate_id() -> None:
    text = "# S\n\n## A?\n\nx\n\n```kb\nid: same\n```\n\n## B?\n\ny\n\n```kb\nid: same\n```\n"
    assert _errors(text) == [
        "faq.md:11: duplicate id 'same' (first at faq.md:3): give one of them another "
        "'id:' in its kb block"
    ]


def test_empty_answer() -> None:
    text = "# S\n\n## A?\n\n```kb\nid: a\n```\n\n## B?\n\ny\n"
    assert _errors(text) == ["faq.md:3: empty answer for 'A?': write the answer below it"]


def test_bad_regex_names_line_and_column() -> None:
    text = "# S\n\n## A?\n\nx\n\n```kb\nsignatures:\n- re: unclosed (group\n```\n"
    (problem,) = _errors(text)
    assert problem.startswith("faq.md:9:16: signature regex does not compile: missing ), ")
    assert problem.endswith("or write it without 're: ' to match it literally")


def test_regex_the_linear_engine_cannot_run_is_rejected() -> None:
    text = "# S\n\n## A?\n\nx\n\n```kb\nsignatures:\n- re: (?<!x)b\n```\n"
    (problem,) = _errors(text)
    assert problem.startswith("faq.md:9: signature regex rejected: the linear-time engine")


def test_unknown_key() -> None:
    text = "# S\n\n## A?\n\nx\n\n```kb\ncolour: blue\n```\n"
    assert _errors(text) == [
        "faq.md:8: unknown metadata key 'colour': use one of examples, id, questions, "
        "see_also, signatures, tags, verified"
    ]


def test_item_outside_list_and_bad_id() -> None:
    text = "# S\n\n## A?\n\nx\n\n```kb\n- stray\nid: Not A Slug\n```\n"
    assert _errors(text) == [
        "faq.md:8: list item outside a list: put 'signatures:' (or ...) above it",
        "faq.md:9: bad id 'Not A Slug': use lower-case letters, digits and '-' only",
    ]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.md"
    path.write_bytes("# S\n\n## Caf\xe9?\n\nyes\n".encode("latin-1"))
    with pytest.raises(ContentError) as info:
        compile_paths([path])
    assert info.value.problems == [f"{path}:3: not UTF-8 (byte 0xe9): save the file as UTF-8"]


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ContentError) as info:
        compile_paths([missing])
    assert info.value.problems == [
        f"{missing}:0: no such file or folder: check the path (--kb / KB_PATH)"
    ]


def test_all_problems_are_reported_at_once() -> None:
    text = ("# S\n\n## A?\n\n```kb\nbogus: 1\n```\n\n## B?\n\nb\n\n"
            "```kb\nsignatures:\n- re: (\n```\n")
    assert len(_errors(text)) == 3


def test_verified_and_version_notes() -> None:
    text = (
        "## Why does it warn?\n\nBecause.\n\n```kb\nid: warns\n"
        "verified: httpd 2.4.71, OpenSSL 3.0.19\n"
        "signatures:\n- AH02559: The SSLCertificateChainFile directive @until httpd 2.4.15\n"
        "- re: AH0\\d+ x @since httpd 2.4.8\n- plain text with @ sign\n```\n"
    )
    (entry,) = compile_text(text, "v.md")
    assert entry.verified == "httpd 2.4.71, OpenSSL 3.0.19"
    first, second, third = entry.signatures
    assert (first.text, first.versions) == (
        "AH02559: The SSLCertificateChainFile directive", "until httpd 2.4.15")
    assert (second.kind.value, second.text, second.versions) == ("regex", "AH0\\d+ x",
                                                                 "since httpd 2.4.8")
    assert (third.text, third.versions) == ("plain text with @ sign", "")


def test_peer_notes_scope_a_signature_to_one_side_of_a_connection() -> None:
    text = (
        "## Why is it refused?\n\nBecause.\n\n```kb\nid: refused\nsignatures:\n"
        "- re: Certificate Verification: Error \\(\\d+\\) @peer remote\n"
        "- Error (20): unable to get local issuer certificate @peer client @until httpd 2.4.99\n"
        "- AH02039: x @since httpd 2.4.1 @peer client\n- mail me @peer\n```\n"
    )
    first, second, third, fourth = compile_text(text, "p.md")[0].signatures
    assert (first.kind.value, first.text, first.peer, first.versions) == (
        "regex", "Certificate Verification: Error \\(\\d+\\)", "remote", "")
    assert (second.text, second.peer, second.versions) == (
        "Error (20): unable to get local issuer certificate", "client", "until httpd 2.4.99")
    assert (third.text, third.peer, third.versions) == ("AH02039: x", "client",
                                                        "since httpd 2.4.1")
    assert (fourth.text, fourth.peer) == ("mail me @peer", "")  # no side named: plain text


def test_unknown_peer_is_an_error() -> None:
    with pytest.raises(ContentError) as exc:
        compile_text("## Q?\n\nA.\n\n```kb\nid: q\nsignatures:\n- boom @peer server\n```\n",
                     "e.md")
    assert exc.value.problems == [
        "e.md:8: unknown peer 'server' in '@peer': write '@peer client' ([client ...] lines) "
        "or '@peer remote' ([remote ...] lines)"
    ]


def test_empty_verified_is_an_error() -> None:
    with pytest.raises(ContentError) as exc:
        compile_text("## Q?\n\nA.\n\n```kb\nverified:\n```\n", "e.md")
    assert exc.value.problems == [
        "e.md:6: 'verified' is empty: say what the entry was checked against "
        "(verified: httpd 2.4.71, OpenSSL 3.0.19)"
    ]


def test_lint_warns_about_unverified_entries_once_a_collection_uses_verified(
    tmp_path: Path,
) -> None:
    from kb.lint import lint, lint_warnings

    faq = tmp_path / "faq.md"
    faq.write_text("## One?\n\nA.\n\n```kb\nverified: httpd 2.4.71\n```\n\n## Two?\n\nB.\n",
                   encoding="utf-8")
    assert lint([faq]) == []
    assert lint_warnings([faq]) == [
        f"{faq}:9: warning: never verified: add 'verified: <what it was checked against>' "
        "to its kb block once its recipes and strings are checked"
    ]
    faq.write_text("## One?\n\nA.\n\n## Two?\n\nB.\n", encoding="utf-8")
    assert lint_warnings([faq]) == []
