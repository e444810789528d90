"""Text form of ``kb explain``: parsed lines, the query, and each hit's contributions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from frontends.render import clean, why_lines

if TYPE_CHECKING:
    from kb import HitLike, Query


def explanation_lines(query: Query, hits: Sequence[HitLike]) -> list[str]:
    """Readable lines for a terminal."""
    parsed = query.parsed
    out = [f"input: {parsed.kind.value}, {len(parsed.lines)} line(s)"]
    for number, line in enumerate(parsed.lines, 1):
        out.append(f"line {number}: shapes={'+'.join(line.shapes) or '-'}")
        for key, value in line.fields.items():
            out.append(f"  {key}: {clean(value, keep_newlines=False)}")
        if line.ah_codes:
            out.append(f"  codes: {', '.join(line.ah_codes)}")
        for error in line.openssl:
            out.append(f"  openssl: {clean(error.lib or '?', keep_newlines=False)} / "
                       f"{clean(error.reason, keep_newlines=False)} ({error.form})")
        out.append(f"  template: {clean(line.template, keep_newlines=False)}")
    q = query.as_json()
    out.append(f"query: terms={' '.join(q['terms']) or '-'}")  # type: ignore[arg-type]
    out.append(f"       fields={', '.join(q['fields']) or '-'}")  # type: ignore[arg-type]
    for cap in query.caps:
        out.append(f"       cap {cap[1]:.2f} without exact signal: {cap[0]}")
    if not hits:
        out.append("no hits")
    for number, hit in enumerate(hits, 1):
        out.extend(_hit(number, hit))
    return out


def _hit(number: int, hit: HitLike) -> list[str]:
    head = (f"{number}. {clean(hit.entry.id, keep_newlines=False)}  score {hit.score:.2f}  "
            f"confidence {hit.confidence:.2f}")
    return [head, *why_lines(hit, terms=12, indent="   ")]
