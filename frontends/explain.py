"""Text form of ``kb explain``: parsed lines, the query, and each hit's contributions."""

from __future__ import annotations

from collections.abc import Sequence

from frontends.render import clean
from kb import Hit
from kb.rank import Query


def explanation_lines(query: Query, hits: Sequence[Hit]) -> list[str]:
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


def _hit(number: int, hit: Hit) -> list[str]:
    why = hit.why
    out = [
        f"{number}. {hit.entry.id}  score {hit.score:.2f}  confidence {hit.confidence:.2f}",
    ]
    for signal in why["signals"]:
        out.append(f"   + {signal['weight']:5.2f}  {signal['type']}: "
                   f"{clean(signal['value'], keep_newlines=False)}")
    text = why["text"]
    out.append(f"   text bm25f {text['bm25f']:.2f}, coverage {text['coverage']:.2f}")
    for term in text["terms"][:12]:
        out.append(f"     {term['score']:6.2f}  {term['field']}:{term['term']} (x{term['boost']})")
    if why.get("capped_by"):
        out.append(f"   capped: {why['capped_by']}")
    return out
