"""The top-level blocks of a FAQ page, as kb.compiler reads them from markdown-it's tokens.

FAQs are written in many shapes: ATX, setext and HTML headings (``<h3 name=...>``), heading
attributes and anchors (``{#id}``, ``[Q](@id x)``, ``<a id=...>``), questions as bold
paragraphs or list items (``**Q: ...?**``), ``<details><summary>`` pairs, tables of contents.
This module turns the token stream into a flat list of ``Block``s (headings with clean titles
and their anchors, text, navigation, hidden HTML, kb metadata fences) with 0-based line spans;
kb.compiler decides which of them are questions.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it.token import Token

META_INFO = "kb"


class BlockKind(StrEnum):
    """What a top-level block is to the compiler."""

    HEADING = "heading"
    TEXT = "text"  # answer text: paragraphs, lists, code, tables, quotes, visible HTML
    NAV = "nav"  # a table of contents or kramdown {:toc}: navigation, never answer text
    HIDDEN = "hidden"  # HTML comments, empty anchors, thematic breaks
    META = "meta"  # a ```kb fence
    DETAILS_END = "details_end"  # a lone </details>


@dataclass
class Block:
    """One top-level block: its kind, 0-based line span and what the compiler needs of it."""

    kind: BlockKind
    line: int
    end: int
    level: int = 0  # headings
    title: str = ""  # headings: clean text; questions: the question
    anchor: str = ""  # an id the author gave (heading attribute, anchor, name=)
    setext: bool = False
    question: str = ""  # a bold-question paragraph/item or a <details> summary
    rest: str = ""  # the text after the question on its own line(s)
    after: int = -1  # questions: the first line after the question's own paragraph
    details: bool = False  # a <details><summary> block
    closed: bool = True  # <details>: False when the answer follows in later blocks
    items: list[Block] = field(default_factory=list)  # a list's items that hold questions
    info: str = ""  # fences: the info word
    content: str = ""  # fences: the content


def blocks_of(tokens: list[Token]) -> list[Block]:
    """Every top-level block of a token stream, in order."""
    out: list[Block] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.level != 0 or tok.map is None:
            i += 1
            continue
        start, end = tok.map
        if tok.type == "heading_open":
            out.append(_heading(tok, tokens[i + 1].content))
        elif tok.type == "paragraph_open":
            out.append(_paragraph(tokens[i + 1].content, start, end))
        elif tok.type in {"bullet_list_open", "ordered_list_open"}:
            close = _close(tokens, i)
            out.append(_list(tokens[i:close + 1], start, end))
            i = close
        elif tok.type == "fence":
            info = tok.info.strip().split(maxsplit=1)[0] if tok.info.strip() else ""
            kind = BlockKind.META if info == META_INFO else BlockKind.TEXT
            out.append(Block(kind, start, end, info=info, content=tok.content))
        elif tok.type == "html_block":
            out.append(_html(tok.content, start, end))
        elif tok.type == "hr":
            out.append(Block(BlockKind.HIDDEN, start, end))
        elif tok.type.endswith("_open") or tok.type == "code_block":
            out.append(Block(BlockKind.TEXT, start, end))
        i += 1
    return out


def _close(tokens: list[Token], i: int) -> int:
    """The index of the token closing the one at ``i``."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j].nesting
        if depth == 0:
            return j
    return len(tokens) - 1


# -- headings --------------------------------------------------------------------------------

_ATTRS = re.compile(r"\s*\{:?\s*#([\w:.-]+)[^}]*\}\s*$")  # kramdown/pandoc {#id} {:#id .x}
_DOC_LINK = re.compile(r"^\[(.+)\]\(@id\s+([^)\s]+)\)$")  # Documenter [Title](@id x)
_ANCHOR_ATTR = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")
_HTML_TAGS = ("a|abbr|b|big|br|code|del|div|em|font|i|img|ins|kbd|mark|p|s|samp|small|span|"
              "strike|strong|sub|sup|tt|u|var")
_TAG = re.compile(rf"</?(?:{_HTML_TAGS})\b[^<>]*>", re.IGNORECASE)
_ANY_TAG = re.compile(r"<[^<>]*>")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)


def _heading(tok: Token, raw: str) -> Block:
    title, anchor = clean_heading(raw)
    setext = tok.markup in {"-", "="}
    return Block(BlockKind.HEADING, tok.map[0], tok.map[1], level=int(tok.tag[1]),  # type: ignore[index]
                 title=title, anchor=anchor, setext=setext)


def clean_heading(raw: str) -> tuple[str, str]:
    """(title, anchor) of a Markdown heading's text: attributes, Documenter links and HTML
    anchors/tags removed (code spans kept as written), the id they gave, if any."""
    text = raw.strip()
    anchor = ""
    found = _ATTRS.search(text)
    if found:
        anchor, text = found.group(1), text[: found.start()].rstrip()
    link = _DOC_LINK.match(text)
    if link:
        text, anchor = link.group(1), anchor or link.group(2)
    pieces = []
    last = 0
    for code in _CODE_SPAN.finditer(text):  # markup outside code spans only
        pieces.append(_strip_html(text[last : code.start()]))
        pieces.append(code.group())
        last = code.end()
    outside = text[last:]
    if not anchor:
        attr = _ANCHOR_ATTR.search("".join(_TAG.findall(text)))
        anchor = attr.group(1) if attr else ""
    pieces.append(_strip_html(outside))
    return " ".join("".join(pieces).split()), anchor


def _strip_html(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


_HTML_HEADING = re.compile(r"^\s*<h([1-6])\b([^>]*)>(.*?)</h\1\s*>", re.S | re.IGNORECASE)


def html_heading(content: str) -> tuple[int, str, str] | None:
    """(level, title, anchor) of an HTML heading opening an HTML block, or None."""
    found = _HTML_HEADING.match(content)
    if found is None:
        return None
    inner = found.group(3)
    attr = _ANCHOR_ATTR.search(found.group(2)) or _ANCHOR_ATTR.search(inner)
    title = " ".join(html.unescape(_ANY_TAG.sub(" ", _TAG.sub("", inner))).split())
    return int(found.group(1)), title, attr.group(1) if attr else ""


# -- text, navigation and questions ------------------------------------------------------------

# A question in bold opening a paragraph or list item: "**Q: How do I ...?**" / "__...?__".
_BOLD = re.compile(r"^\s*(\*\*|__)\s*(Q\s*[:.]\s*)?(.+?)\s*\1\s*(.*)$", re.S)
_ANSWER_LEAD = re.compile(r"^\s*A\s*[:.]\s*")
_LINKS_ONLY = re.compile(r"^(?:\s*(?:[-*+]|\d+[.)])?\s*\[[^\]]+\](?:\([^)]*\)|\[[^\]]*\])\s*)+$")
_NAV_MARKERS = re.compile(r"^\s*(?:\{:\s*[^}]*\}|\[TOC\]|\[\[_TOC_\]\]|\*\s*TOC)\s*$", re.I)


def bold_question(content: str) -> tuple[str, str] | None:
    """(question, rest of the text) when ``content`` opens with a question in bold."""
    found = _BOLD.match(content)
    if found is None:
        return None
    question = " ".join(found.group(3).split())
    if not (question.endswith("?") or found.group(2)) or "\n\n" in question:
        return None
    return question, _ANSWER_LEAD.sub("", found.group(4), count=1).strip()


def _paragraph(content: str, start: int, end: int) -> Block:
    if all(_NAV_MARKERS.match(line) or not line.strip() for line in content.splitlines()):
        return Block(BlockKind.NAV, start, end)
    found = bold_question(content)
    if found is None:
        return Block(BlockKind.TEXT, start, end)
    return Block(BlockKind.TEXT, start, end, question=found[0], rest=found[1], after=end)


def _list(tokens: list[Token], start: int, end: int) -> Block:
    inlines = [t.content for t in tokens if t.type == "inline"]
    if inlines and all(_LINKS_ONLY.match(c) or _NAV_MARKERS.match(c) or "{:toc}" in c
                       for c in inlines):
        return Block(BlockKind.NAV, start, end)
    block = Block(BlockKind.TEXT, start, end)
    for i, tok in enumerate(tokens):
        if tok.type != "list_item_open" or tok.level != 1 or tok.map is None:
            continue
        para = next((j for j in range(i + 1, len(tokens)) if tokens[j].type == "inline"), None)
        if para is None or tokens[para].level != 3 or tokens[para - 1].map is None:
            continue  # an item that does not open with a paragraph of its own
        found = bold_question(tokens[para].content)
        if found is not None:
            after = tokens[para - 1].map[1]  # type: ignore[index]
            block.items.append(Block(BlockKind.TEXT, tok.map[0], tok.map[1], question=found[0],
                                     rest=found[1], after=after))
    return block


_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)
_EMPTY_ANCHOR = re.compile(r"<a\b[^>]*>\s*</a>|<a\b[^>]*/>", re.I)
_SUMMARY = re.compile(r"^\s*<details\b[^>]*>\s*<summary\b[^>]*>(.*?)</summary>(.*)$",
                      re.S | re.I)


def _html(content: str, start: int, end: int) -> Block:
    heading = html_heading(content)
    if heading is not None:
        level, title, anchor = heading
        return Block(BlockKind.HEADING, start, end, level=level, title=title, anchor=anchor)
    summary = _SUMMARY.match(content)
    if summary is not None:
        question = " ".join(html.unescape(_ANY_TAG.sub(" ", summary.group(1))).split())
        rest, closed = summary.group(2), "</details>" in summary.group(2).lower()
        rest = re.sub(r"</details>\s*$", "", rest.strip(), flags=re.I).strip()
        return Block(BlockKind.TEXT, start, end, question=question, rest=rest, details=True,
                     closed=closed, after=end)
    bare = _EMPTY_ANCHOR.sub("", _COMMENT.sub("", content)).strip()
    if not bare:
        return Block(BlockKind.HIDDEN, start, end)
    if re.fullmatch(r"</details>", bare, re.I):
        return Block(BlockKind.DETAILS_END, start, end)
    return Block(BlockKind.TEXT, start, end)
