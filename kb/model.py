"""Data models: what the compiler produces and what queries return (the public API).

The warm path of a search holds the plain forms of ``kb.records`` and builds these models
only when asked for (the API returns them; a CLI search never imports pydantic).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kb.records import SignalWhy, SignatureKind, TermWhy, Why, hit_json, summary_of

__all__ = ["ID_RE", "Entry", "Hit", "SignalWhy", "Signature", "SignatureKind", "Source",
           "TermWhy", "Why", "trusted_entry"]

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class Source(BaseModel):
    """Where an entry was written: file and 1-based line of its heading."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Signature(BaseModel):
    """An error string users see: a literal (case- and space-insensitive) or a regex."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    kind: SignatureKind = SignatureKind.LITERAL
    text: str
    line: int = 0
    # Which releases print it, when only some do ("since httpd 2.4.8", "until OpenSSL 1.1.1").
    versions: str = ""
    # Which side of a connection httpd logs it about, when the same message is logged for
    # both: "client" (a [client ...] line: whoever connected to this server) or "remote" (a
    # [remote ...] line: the backend mod_proxy connected to). "" for any line.
    peer: str = ""


class Entry(BaseModel):
    """One FAQ entry: a question, its Markdown answer and the metadata that finds it."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    id: str
    title: str
    answer: str
    section: str = ""
    tags: tuple[str, ...] = ()
    questions: tuple[str, ...] = ()
    signatures: tuple[Signature, ...] = ()
    examples: tuple[str, ...] = ()
    see_also: tuple[str, ...] = ()
    source: Source
    collection: str = ""
    # What the answer was last checked against ("httpd 2.4.71, OpenSSL 3.0.19"); "" = never.
    verified: str = ""
    # A short intro of the entry's section or page: searched with the tags, never shown.
    context: str = ""

    def summary(self, width: int = 160) -> str:
        """The first paragraph of the answer as plain text, cut to ``width`` characters."""
        return summary_of(self.answer, width)


class Hit(BaseModel):
    """One ranked answer: the entry, its raw score, a 0..1 confidence and why it matched."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    entry: Entry
    score: float
    confidence: float = Field(ge=0.0, le=1.0)
    why: Why

    @property
    def confident(self) -> bool:
        """True when the confidence reaches the calibrated threshold (kb.weights)."""
        from kb.weights import CONFIDENT

        return self.confidence >= CONFIDENT

    def as_json(self) -> dict[str, Any]:
        """The JSON-ready form used by ``kb search --json``."""
        return hit_json(self)


def trusted_entry(data: dict[str, Any]) -> Entry:
    """An Entry from ``model_dump(mode="json")`` output that kb wrote itself and has checked
    (the index cache: its build stamp holds a hash of every file, and its key covers this
    module). Built without validation, so a warm start never builds pydantic's validators.
    """
    fields = dict(data)
    for name in ("tags", "questions", "examples", "see_also"):
        fields[name] = tuple(fields.get(name, ()))
    fields["signatures"] = tuple(
        Signature.model_construct(kind=SignatureKind(s["kind"]), text=s["text"], line=s["line"],
                                  versions=s.get("versions", ""), peer=s.get("peer", ""))
        for s in fields.get("signatures", ())
    )
    fields["source"] = Source.model_construct(**fields["source"])
    return Entry.model_construct(**fields)
