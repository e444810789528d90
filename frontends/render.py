"""Rendering for terminals and pipes: sanitising, Markdown, hit lists, JSON.

Nothing from a log line or a content file reaches the terminal raw: ``clean`` turns every
control character (C0 but newline and tab, DEL, C1, ESC sequences), bidi overrides, line
separators and bytes that are not UTF-8 into visible ``\\xNN`` / ``\\u....`` escapes.
JSON output is ASCII-only, so it cannot carry them either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # either form: kb.Entry / kb.Hit, or the plain records a CLI search uses
    from kb import EntryLike, HitLike

# C0 but newline and tab, DEL, C1, bidi controls, the line and paragraph separators, and lone
# surrogates: Python's stand-ins for bytes that are not UTF-8 (argv, and stdin in a C or POSIX
# locale). Written back they are those raw bytes again: 0x9b is CSI on an 8-bit terminal and
# C0 9B an overlong ESC that lenient decoders read.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                      "\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str, *, keep_newlines: bool = True) -> str:
    """``text`` with every control character escaped (newlines and tabs kept if asked)."""
    text = _CONTROL.sub(_escape, text)
    return text if keep_newlines else text.replace("\n", "\\n").replace("\t", " ")


def dumps(data: Any) -> str:
    """ASCII-only JSON (control characters and non-ASCII escaped)."""
    return json.dumps(data, ensure_ascii=True, sort_keys=False)


def entry_markdown(entry: EntryLike) -> str:
    """One entry as a Markdown page: the question as heading, the answer, the see-also ids."""
    markdown = f"# {entry.title}\n\n{entry.answer}\n"
    if entry.verified:
        markdown += f"\n*Verified against {entry.verified}.*\n"
    if entry.see_also:
        markdown += "\nSee also: " + ", ".join(f"`{ref}`" for ref in entry.see_also) + "\n"
    return markdown


def write_markdown(out: IO[str], markdown: str, *, rich: bool, width: int | None = None,
                   color: bool = True) -> None:
    """Markdown rendered for a terminal when ``rich`` (with colour unless ``color`` is off:
    NO_COLOR drops colour, not rendering), else the sanitised source."""
    if not rich:
        out.write(clean(markdown).rstrip() + "\n")
        return
    from rich.console import Console
    from rich.markdown import Markdown

    console = Console(file=out, force_terminal=True, width=width, highlight=False,
                      no_color=not color)
    console.print(Markdown(clean(markdown)))


def hit_lines(hits: Sequence[HitLike], *, confident_at: float) -> list[str]:
    """Numbered hits: title, id, confidence, section and a short excerpt."""
    lines = []
    several = len({hit.entry.collection for hit in hits}) > 1  # then say where each is from
    for number, hit in enumerate(hits, 1):
        entry = hit.entry
        mark = "" if hit.confidence >= confident_at else "  (low confidence)"
        where = f"{entry.collection}: " if several else ""
        lines.append(f"{number}. {clean(entry.title, keep_newlines=False)}")
        lines.append(
            f"   id: {clean(entry.id, keep_newlines=False)} · confidence {hit.confidence:.2f} · "
            f"{clean(where + entry.section, keep_newlines=False)}{mark}"
        )
        lines.append(f"   {clean(entry.summary(150), keep_newlines=False)}")
    return lines


def why_lines(hit: HitLike, *, terms: int = 8, indent: str = "  ") -> list[str]:
    """A hit's explanation: exact signals with their weights, the text match and its top
    words, and what capped the confidence (one renderer for ``kb explain`` and the shell)."""
    why = hit.why
    out = [f"{indent}+ {s.weight:5.2f}  {s.type}: {clean(s.value, keep_newlines=False)}"
           + ("  (context: its line only reports an outcome)" if s.context else "")
           for s in why.signals]
    out.append(f"{indent}words: bm25f {why.bm25f:.2f}, coverage {why.coverage:.2f}")
    out += [f"{indent}  {t.score:6.2f}  {t.field}: {clean(t.term, keep_newlines=False)} "
            f"(x{t.boost:g})" for t in why.terms[:terms]]
    if why.semantic is not None:
        # (beside other collections, the cosine less its collection's noise level)
        out.append(f"{indent}meaning: similarity {why.semantic:.2f} to the question "
                   "(the semantic extra)")
    if why.capped_by:
        out.append(f"{indent}capped: {clean(why.capped_by, keep_newlines=False)}")
    if why.collection_posterior is not None:
        kept = "" if not why.signals else (
            " (the input names another collection: its exact signals count as text)"
            if why.named_elsewhere else
            f" (other collections' exact signals claim the input too: it keeps "
            f"{why.signal_share:.2f} of its confidence, by the input's other words)"
            if why.signal_share is not None else " (an exact signal keeps its confidence)")
        out.append(f"{indent}collection: {why.collection_posterior:.2f} sure the answer is "
                   f"in {clean(hit.entry.collection, keep_newlines=False)}{kept}")
    return out

