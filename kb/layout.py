"""Which blocks of a FAQ page are questions, which are sections, and where each answer is.

The rules (docs/content-format.md):

- The *question level* is the level of the headings that carry a ``kb`` block; without any,
  the heading level that most often has text directly under it.
- A heading is a question when it has answer text directly under it or is itself a question
  (ends with ``?``), whatever its level. Headings without either are sections.
- Inside an answer, a deeper heading that is not a question belongs to the answer (``####
  Note``); a deeper heading that is a question with text of its own starts a new entry.
- A section's own intro text becomes an entry of its own (titled by the section) when it has
  at least ``INTRO_ENTRY_CHARS`` characters or the heading is a question; a shorter intro is
  kept as *context* of the entries under the section (searched, never shown as an answer).
- Under a heading that is not itself a question, questions in bold (``**Q: ...?**`` opening
  a paragraph or a list item, at least two of them, or one in a file without headings) and
  ``<details><summary>...?</summary>`` pairs are entries of their own.
- Text before the first heading is the page's lead: an entry titled by the page (front
  matter ``title``, else the file name) when it is long enough, else context of the page.
- Tables of contents, kramdown ``{:toc}`` markers, HTML comments and empty anchors are
  navigation: never answer text, never reported as dropped.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass, field

from kb.blocks import Block, BlockKind

INTRO_ENTRY_CHARS = 200  # characters of intro text that make a section's intro an entry


@dataclass
class Span:
    """One entry-to-be: its question, where it was written and the lines of its answer."""

    title: str
    anchor: str
    line: int  # 0-based line of the question
    start: int  # 0-based answer lines [start, stop)
    stop: int
    section: str
    lead: str = ""  # answer text before those lines (after a bold question, in a summary)
    heading: bool = True  # a heading question: kb blocks and 'empty answer' apply
    metas: list[Block] = field(default_factory=list)
    skip: set[int] = field(default_factory=set)  # lines in [start, stop) that are not answer
    context: str = ""  # section intro kept as context
    dedent: bool = False  # list items: answer lines are indented under the item


@dataclass
class Layout:
    """The spans of a page and the text blocks that ended up in no entry."""

    spans: list[Span] = field(default_factory=list)
    dropped: list[Block] = field(default_factory=list)
    unanswered: list[Block] = field(default_factory=list)  # question headings, no answer


def is_question(title: str) -> bool:
    """A heading written as a question."""
    return title.rstrip(" *_`").endswith("?")


def layout(blocks: list[Block], lines: list[str], page_title: str) -> Layout:
    """Every entry span of a page (see the module's rules)."""
    heads = [i for i, b in enumerate(blocks) if b.kind is BlockKind.HEADING]
    own = _own_blocks(blocks, heads)
    level = _question_level(blocks, heads, own)
    out = Layout()
    first = heads[0] if heads else len(blocks)
    lead = blocks[:first]
    _free_text(out, lead, lines, page_title, page_title, alone=not heads)
    sections: dict[int, str] = {}
    open_level: int | None = None
    for k, i in enumerate(heads):
        head = blocks[i]
        mine = own[i]
        has_text = any(b.kind is BlockKind.TEXT for b in mine)
        has_meta = any(b.kind is BlockKind.META for b in mine)
        question = is_question(head.title)
        if (open_level is not None and level is not None and head.level > max(level, open_level)
                and not (question and has_text) and not has_meta):
            continue  # a sub-heading of the open answer
        open_level = None
        sections = {n: t for n, t in sections.items() if n < head.level}
        section = sections[max(sections)] if sections else page_title
        sections[head.level] = head.title
        stop_at = _stop(blocks, heads, k, level, own)
        body = blocks[i + 1 : stop_at]
        stop = blocks[stop_at].line if stop_at < len(blocks) else len(lines)
        if not question and _splits(body):
            _questions(out, body, lines, head.title, first_stop=stop)
            continue
        span = Span(head.title, head.anchor, head.line, head.end, stop, section,
                    metas=[b for b in body if b.kind is BlockKind.META])
        if not has_text and not has_meta:
            if (question or head.level == level) and any(b.kind is BlockKind.TEXT for b in body):
                out.spans.append(span)  # answered by its sub-headings
                open_level = head.level
            elif question:
                out.unanswered.append(head)
            continue
        if (level is not None and head.level < level and not question and not has_meta
                and _chars(mine, lines) < INTRO_ENTRY_CHARS and _has_children(heads, blocks, k)):
            _context(out, head, mine, lines, _section_end(blocks, heads, k, len(lines)))
            continue
        out.spans.append(span)
        open_level = head.level
    _check_dropped(out, blocks)
    return out


def _own_blocks(blocks: list[Block], heads: list[int]) -> dict[int, list[Block]]:
    """Each heading's blocks up to the next heading of any level."""
    bounds = [*heads, len(blocks)]
    return {i: blocks[i + 1 : bounds[n + 1]] for n, i in enumerate(heads)}


def _question_level(blocks: list[Block], heads: list[int],
                    own: dict[int, list[Block]]) -> int | None:
    meta = [blocks[i].level for i in heads if any(b.kind is BlockKind.META for b in own[i])]
    if meta:
        return min(meta)
    counts = Counter(blocks[i].level for i in heads
                     if any(b.kind is BlockKind.TEXT for b in own[i]))
    if not counts:
        return None
    best = max(counts.values())
    return min(n for n, c in counts.items() if c == best)


def _stop(blocks: list[Block], heads: list[int], k: int, level: int | None,
          own: dict[int, list[Block]]) -> int:
    """The block index where the answer of heading ``heads[k]`` ends."""
    mine = blocks[heads[k]].level
    limit = max(level or mine, mine)
    for j in range(k + 1, len(heads)):  # (no copy of the rest: most answers end at once)
        i = heads[j]
        head = blocks[i]
        has_text = any(b.kind is BlockKind.TEXT for b in own[i])
        has_meta = any(b.kind is BlockKind.META for b in own[i])
        if head.level <= limit or (is_question(head.title) and has_text) or has_meta:
            return i
    return len(blocks)


def _section_end(blocks: list[Block], heads: list[int], k: int, n_lines: int) -> int:
    """The line where the section opened by ``heads[k]`` ends."""
    mine = blocks[heads[k]].level
    return next((blocks[heads[j]].line for j in range(k + 1, len(heads))
                 if blocks[heads[j]].level <= mine), n_lines)


def _has_children(heads: list[int], blocks: list[Block], k: int) -> bool:
    mine = blocks[heads[k]].level
    return k + 1 < len(heads) and blocks[heads[k + 1]].level > mine


def _chars(mine: list[Block], lines: list[str]) -> int:
    return sum(len(lines[n].strip()) for b in mine if b.kind is BlockKind.TEXT
               for n in range(b.line, b.end))


def _question_blocks(body: list[Block]) -> list[Block]:
    found: list[Block] = []
    for block in body:
        if block.question and (not block.details or is_question(block.question)):
            found.append(block)
        found += block.items
    return found


def _splits(body: list[Block], alone: bool = False) -> bool:
    """True when the blocks hold questions of their own (bold or <details>)."""
    found = _question_blocks(body)
    bold = [b for b in found if not b.details]
    return len(bold) >= (1 if alone else 2) or any(b.details for b in found)


def _questions(out: Layout, body: list[Block], lines: list[str], section: str,
               first_stop: int) -> None:
    """Entries for the bold and <details> questions in ``body``; text before the first one
    becomes context of the section (a paragraph of its own)."""
    found = _question_blocks(body)
    firsts = found[0].line
    before = [b for b in body if b.kind is BlockKind.TEXT and b.end <= firsts]
    if before:
        _context(out, None, before, lines, first_stop, section)
    ends = [b.line for b in body if b.kind is BlockKind.DETAILS_END]
    for n, block in enumerate(found):
        nxt = found[n + 1].line if n + 1 < len(found) else first_stop
        if block in _items(body):
            stop, dedent = block.end, True
        elif block.details and not block.closed:
            stop = min([e for e in ends if e >= block.after] or [nxt])
            stop, dedent = min(stop, nxt), False
        else:
            stop, dedent = (block.after if block.details else nxt), False
        span = Span(block.question, "", block.line, block.after, max(stop, block.after),
                    section, lead=block.rest, heading=False, dedent=dedent,
                    metas=[b for b in body if b.kind is BlockKind.META
                           and block.after <= b.line < stop])
        span.skip = {n for b in body if b.kind is BlockKind.DETAILS_END
                     for n in range(b.line, b.end)}
        out.spans.append(span)


def _items(body: list[Block]) -> list[Block]:
    return [item for b in body for item in b.items]


def _free_text(out: Layout, blocks: list[Block], lines: list[str], title: str, section: str,
               alone: bool) -> None:
    """Text before the first heading: questions, a lead entry or context."""
    text = [b for b in blocks if b.kind is BlockKind.TEXT]
    if not text:
        return
    if _splits(blocks, alone=alone):
        _questions(out, blocks, lines, section, first_stop=blocks[-1].end)
        return
    if alone and not title:
        return
    if _chars(text, lines) >= INTRO_ENTRY_CHARS or alone:
        out.spans.append(Span(title, "", text[0].line, text[0].line, text[-1].end, section,
                              heading=False))
        return
    _context(out, None, text, lines, len(lines), section)


def _context(out: Layout, head: Block | None, mine: list[Block], lines: list[str],
             stop: int, section: str = "") -> None:
    """Keep a short intro as context of the entries that follow it (up to ``stop``)."""
    text = [b for b in mine if b.kind is BlockKind.TEXT]
    words = " ".join(lines[n].strip() for b in text for n in range(b.line, b.end))
    out.spans.append(Span("", "", text[0].line if text else 0, text[0].line if text else 0,
                          stop, head.title if head else section, heading=False,
                          context=re.sub(r"\s+", " ", words).strip()))


def contexts_of(spans: list[Span]) -> dict[int, str]:
    """The context text of each entry span (by its position in ``spans``): the intros of the
    sections around it joined, in order. Each context reaches the spans in its line range
    (a binary search), so a page with many sections costs no scan of all spans per span."""
    entries = sorted((span.line, n) for n, span in enumerate(spans) if not span.context)
    lines = [line for line, _ in entries]
    found: dict[int, list[str]] = {}
    for ctx in (span for span in spans if span.context):
        for _, n in entries[bisect_left(lines, ctx.start) : bisect_left(lines, ctx.stop)]:
            found.setdefault(n, []).append(ctx.context)
    return {n: " ".join(parts) for n, parts in found.items()}


def _check_dropped(out: Layout, blocks: list[Block]) -> None:
    """Text blocks in no span: a binary search in the spans' merged line ranges (a page of
    10^5 entries is checked in linear-logarithmic time, not quadratic)."""
    covered: list[list[int]] = []
    for start, stop in sorted((span.line, span.stop) for span in out.spans):
        if covered and start <= covered[-1][1]:
            covered[-1][1] = max(covered[-1][1], stop)
        else:
            covered.append([start, stop])
    starts = [start for start, _ in covered]
    for block in blocks:
        if block.kind is not BlockKind.TEXT:
            continue
        at = bisect_right(starts, block.line) - 1
        if at < 0 or block.line >= covered[at][1]:
            out.dropped.append(block)
