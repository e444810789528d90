"""The JSON that ``kb serve`` and ``kb mcp`` return: the CLI's ``--json`` shapes, built by the
same ``as_json``/``summary`` methods, plus the entry pages the CLI prints as text.

Entry HTML comes from markdown-it-py with raw HTML disabled: a ``<script>`` in content
Markdown arrives as text, and markdown-it's link check drops ``javascript:`` and ``data:``
URLs. It is the only HTML the web page inserts as HTML.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from frontends.render import dumps, entry_markdown

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

    from kb import Diagnosis, Entry, KnowledgeBase


def search_payload(kb: KnowledgeBase, text: str, limit: int) -> dict[str, Any]:
    """``kb search --json``: the query text and the ranked hits."""
    return {"query": text, "hits": [h.as_json() for h in kb.search(text, limit=limit)]}


def explain_payload(kb: KnowledgeBase, text: str, limit: int) -> dict[str, Any]:
    """``kb explain --json``: the parsed line, the query built and each hit without its answer."""
    query = kb.build_query(text)
    hits = kb.search_query(query, limit=limit)
    return {
        "parsed": query.parsed.as_json(),
        "query": query.as_json(),
        "hits": [h.as_json() | {"answer": None} for h in hits],
    }


def diagnosis_lines(diagnosis: Diagnosis) -> Iterator[str]:
    """``kb diagnose --json`` of a whole file: one NDJSON line per problem (worst first), then
    the summary line."""
    from frontends.report import problem_json, summary_json

    for problem in diagnosis.problems:
        yield dumps(problem_json(problem)) + "\n"
    yield dumps(summary_json(diagnosis)) + "\n"


def diagnosis_payload(diagnosis: Diagnosis) -> dict[str, Any]:
    """The same objects as one JSON document (for MCP, whose tools return one result)."""
    from frontends.report import problem_json, summary_json

    return {"problems": [problem_json(p) for p in diagnosis.problems],
            "summary": summary_json(diagnosis)}


def entry_item(entry: Entry) -> dict[str, Any]:
    """One line of the entry list: enough to show and filter it without the answer."""
    return {
        "id": entry.id,
        "title": entry.title,
        "section": entry.section,
        "tags": list(entry.tags),
        "see_also": list(entry.see_also),
        "summary": entry.summary(240),
    }


def entry_payload(entry: Entry) -> dict[str, Any]:
    """One entry: its fields, the page ``kb show --raw`` prints (``markdown``) and the answer
    as HTML (``answer_html``)."""
    return entry.model_dump(mode="json") | {"markdown": entry_markdown(entry),
                                            "answer_html": to_html(entry.answer)}


def to_html(markdown: str) -> str:
    """CommonMark (plus tables) to HTML, raw HTML shown as text."""
    return _markdown().render(markdown)


@cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")
