"""``kb diagnose --unmatched``: error-looking templates with no confident answer, as a Markdown
stub that ``kb lint`` accepts as it is (each entry with its own id, a signature its example
matches, items within the compiler's limits), for the author to turn into real entries.
"""

from __future__ import annotations

import hashlib
import re

from frontends.render import clean
from kb import Diagnosis, Unmatched, slugify

MAX_EXAMPLE = 1000  # characters of an example (escaped): well under the compiler's 4000
MAX_SIGNATURE = 200
MIN_SIGNATURE = 4
_VERSION_NOTE = re.compile(r"\s@(?:since|until)\s")  # what the compiler reads as a version
_FENCE = re.compile(r"`{3,}")


HEADING = "# Unmatched errors"  # the first line of every report
# The last line: a checksum of the rest, so that kb replaces only a report nobody edited.
_MARK = "<!-- kb diagnose --unmatched, sha256 {} -->"
_MARKED = re.compile(r"<!-- kb diagnose --unmatched, sha256 ([0-9a-f]{64}) -->\n\Z")


def unmatched_markdown(diagnosis: Diagnosis) -> str:
    """The stub: a heading, the example, a TODO and a kb block per unmatched template."""
    out = [HEADING, "",
           "Error-looking log lines that kb had no confident answer for, most frequent first.",
           "Turn each into a real entry: write the question and the remedy, keep the signature.",
           ""]
    ids: set[str] = set()
    for item in diagnosis.unmatched:
        example = _cut(clean(item.example, keep_newlines=False), MAX_EXAMPLE)
        signature = _signature(item, example)
        fence = "`" * max(3, 1 + max((len(f) for f in _FENCE.findall(example)), default=0))
        seen = clean(f"{item.source or '-'}:{item.first_line}", keep_newlines=False)
        out += [f"## What does \"{_heading(item.template)}\" mean?", "",
                f"Seen {item.count} time(s), first at {seen}:", "",
                f"{fence}text", example, fence, "",
                "TODO: explain the cause and the remedy.", "",
                "```kb", f"id: {_unique(ids, signature)}", "signatures:", f"- lit: {signature}",
                "examples:", f"- {example}", "```", ""]
    text = "\n".join(out) + "\n"
    return text + _MARK.format(hashlib.sha256(text.encode()).hexdigest()) + "\n"


def is_unedited_report(data: bytes) -> bool:
    """True for a report ``unmatched_markdown`` wrote, as it wrote it."""
    text = data.decode("utf-8", "replace")
    mark = _MARKED.search(text)
    return (mark is not None and text.startswith(HEADING)
            and hashlib.sha256(text[: mark.start()].encode()).hexdigest() == mark.group(1))


def _signature(item: Unmatched, example: str) -> str:
    """The longest text of the template that the (escaped, cut) example holds; else the
    example's start."""
    folded = _fold(example)
    for run in item.literals():
        text = _VERSION_NOTE.split(_cut(clean(run, keep_newlines=False), MAX_SIGNATURE))[0]
        text = text.strip()
        if len(text) >= MIN_SIGNATURE and re.search(r"\w", text) and _fold(text) in folded:
            return text
    return _VERSION_NOTE.split(_cut(example, MAX_SIGNATURE))[0].strip() or example


def _unique(ids: set[str], signature: str) -> str:
    """An id for the entry: ``unmatched-`` and the signature's words, numbered if taken."""
    base = f"unmatched-{slugify(signature, limit=48)}"
    entry_id, n = base, 2
    while entry_id in ids:
        entry_id, n = f"{base}-{n}", n + 1
    ids.add(entry_id)
    return entry_id


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rstrip()


def _heading(template: str) -> str:
    text = clean(template, keep_newlines=False).replace('"', "'")
    return text if len(text) <= 100 else text[:99] + "\u2026"
