"""FAQs as people write them (issue 14): one authored file per real-world shape, compiled into
the right entries, and lint reporting every silent drop. The files are written for these tests
in the shapes of real FAQs (Hugo/Jekyll front matter, HTML headings, kramdown and Documenter
attributes, bold questions, <details> pairs ...); no other project's text is copied."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb.compiler import compile_paths, compile_report, compile_text, slugify
from kb.lint import lint, lint_warnings

SHAPES = Path(__file__).parent / "data" / "shapes"


def _ids(name: str) -> list[tuple[str, str, str]]:
    return [(e.id, e.title, e.section) for e in compile_paths([SHAPES / name])]


def test_yaml_front_matter_feeds_the_page() -> None:
    entries = compile_paths([SHAPES / "yaml-front-matter.md"])
    assert [(e.id, e.section) for e in entries] == [
        ("how-do-i-upgrade-gizmo", "Gizmo FAQ"),
        ("where-does-gizmo-keep-its-settings", "Gizmo FAQ"),
    ]
    assert all(e.tags == ("gizmo", "cli") for e in entries)
    assert entries[0].source.line == 10  # line numbers survive the blanked front matter


def test_toml_front_matter_titles_the_page_and_a_short_lead_is_context() -> None:
    (entry,) = compile_paths([SHAPES / "toml-front-matter.md"])
    assert (entry.id, entry.section, entry.tags) == ("can-sprocket-build-offline",
                                                     "Sprocket FAQ", ("sprocket",))
    assert entry.context.startswith("This page answers the questions people ask most")


def test_html_headings_with_names_become_entries() -> None:
    assert _ids("html-headings.md") == [
        ("manpage", "Does it ship a man page?", "Questions"),
        ("colours", "How do I change the colours & styles?", "Questions"),
    ]


def test_questions_at_several_levels_and_a_section_intro() -> None:
    entries = compile_paths([SHAPES / "mixed-levels.md"])
    assert [(e.id, e.section) for e in entries] == [
        ("what-is-a-knob", "Definitions"),
        ("what-is-a-dial", "Definitions"),
        ("why-shouldnt-i-run-knob-as-root", "Knob FAQ"),
        ("backup", "Knob FAQ"),  # the section's own intro, long enough to be an entry
        ("how-do-i-restore-a-backup", "Backup"),
        ("how-do-i-install-knob", "Installing"),
    ]
    assert entries[3].answer.startswith("Knob keeps a backup")
    assert "restore" not in entries[3].answer


def test_heading_attributes_and_anchors_are_ids_not_title() -> None:
    assert _ids("attributes.md") == [
        ("stop-script", "How do I stop a running script?", "Scripting"),
        ("run-android", "How does it run on Android?", "Scripting"),
        ("run-ios", "How does it run on iOS?", "Scripting"),
        ("why-is-the-id-of-this-very-long-question-cut-where-a-word-ends",
         "Why is the id of this very long question cut where a word ends instead of in the "
         "middle of one?", "General Questions"),
    ]


def test_bold_question_paragraphs() -> None:
    entries = compile_paths([SHAPES / "bold-questions.md"])
    assert [(e.title, e.answer) for e in entries] == [
        ("How do I reset my password?", 'Use the "Forgot password" link on the login page.'),
        ("Can I use the app on my phone?",
         "Yes. The page adapts to small screens.\n\nIt also works offline once loaded."),
    ]


def test_bold_question_list_items_in_a_file_without_headings() -> None:
    entries = compile_paths([SHAPES / "list-questions.md"])
    assert [(e.title, e.answer) for e in entries] == [
        ("How do I reset my password?", 'Use the "Forgot password" link.'),
        ("Can I use the app on my phone?",
         "Yes, it adapts to small screens.\nIt also works offline."),
    ]


def test_details_summary_pairs() -> None:
    entries = compile_paths([SHAPES / "details.md"])
    assert [(e.title, e.answer) for e in entries] == [
        ("Why does sync stop at 99%?", "The last file is still being written: wait for it."),
        ("Can I sync two folders at once?", "Yes, list both in `sync.toml`."),
    ]


def test_same_question_under_two_sections_gets_two_ids() -> None:
    assert _ids("duplicate-titles.md") == [
        ("how-do-i-install-it", "How do I install it?", "Linux"),
        ("macos-how-do-i-install-it", "How do I install it?", "macOS"),
    ]


def test_a_given_id_twice_is_still_an_error() -> None:
    from kb import ContentError

    with pytest.raises(ContentError):
        compile_text("## A?\n\nx\n\n```kb\nid: same\n```\n\n## B?\n\ny\n\n```kb\nid: same\n```\n")


def test_paragraph_underlined_with_dashes_is_answer_and_rule() -> None:
    first, second = compile_paths([SHAPES / "setext-rule.md"])
    assert first.answer == "Run the updater. Then restart the service\n---"
    assert second.title == "How do I uninstall?"


def test_deeper_headings_without_question_stay_in_the_answer() -> None:
    entries = compile_paths([SHAPES / "sub-headings.md"])
    assert [e.title for e in entries] == [
        "Device resets to defaults on its own", "Status LED blinks",
        "Relay clicks every second", "Web page asks for a password"]
    assert "#### Bad power supply" in entries[0].answer


def test_folders_hold_mdx_and_markdown_files() -> None:
    assert [e.id for e in compile_paths([SHAPES / "mdx"])] == ["how-do-i-update",
                                                                "how-do-i-roll-back"]


def test_slug_is_cut_at_a_word_boundary_and_drops_apostrophes() -> None:
    assert slugify("Why doesn't it work" + " word" * 20) == (
        "why-doesnt-it-work" + "-word" * 9)
    assert slugify("Nextcloud\u2019s own backup") == "nextclouds-own-backup"


# -- lint reports every silent drop ----------------------------------------------------------

def test_lint_reports_a_file_with_no_entry(tmp_path: Path) -> None:
    empty = tmp_path / "empty.md"
    empty.write_text("<!-- nothing here yet -->\n", encoding="utf-8")
    assert lint([empty]) == [f"{empty}:1: no entry found: write each question as a heading "
                             "with its answer below it (docs/content-format.md)"]


def test_lint_reports_text_in_no_entry_and_unanswered_questions(tmp_path: Path) -> None:
    faq = tmp_path / "faq.md"
    faq.write_text("# S\n\n## Why?\n\n## How?\n\nLike this.\n", encoding="utf-8")
    assert lint([faq]) == []
    assert lint_warnings([faq]) == [
        f"{faq}:3: warning: question 'Why?' has no answer below it: read as a section heading"]


def test_lint_reports_text_between_questions(tmp_path: Path) -> None:
    faq = tmp_path / "faq.md"
    faq.write_text("<details><summary>Why?</summary>Because.</details>\n\nA stray remark.\n\n"
                   "<details><summary>How?</summary>Like this.</details>\n", encoding="utf-8")
    assert [e.title for e in compile_paths([faq])] == ["Why?", "How?"]
    assert lint_warnings([faq]) == [
        f"{faq}:3: warning: text in no entry: 'A stray remark.': put it under a question "
        "heading or remove it"]


def test_lint_reports_an_answer_over_the_size_limit(tmp_path: Path) -> None:
    faq = tmp_path / "big.md"
    faq.write_text("## One?\n\n" + "word " * 3000 + "\n", encoding="utf-8")
    (warning,) = lint_warnings([faq])
    assert warning.startswith(f"{faq}:1: warning: answer of 'One?' has 14999 characters "
                              "(over 12000): probably several questions")


def test_every_shape_lints_clean() -> None:
    for path in sorted(SHAPES.glob("*.md")):
        entries, notes, empty = compile_report([path])
        assert entries and not notes and not empty, path.name


def test_diagnose_works_on_a_collection_without_signatures(tmp_path: Path) -> None:
    kb = KnowledgeBase.from_paths([SHAPES / "mixed-levels.md"], cache_dir=tmp_path)
    diagnosis = kb.diagnose(["some error line", "ERROR: Why shouldn't I run Knob as root?"])
    assert diagnosis.lines == 2
