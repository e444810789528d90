"""Data models: what the compiler produces and what queries return."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class SignatureKind(StrEnum):
    """How a signature is matched against a line."""

    LITERAL = "literal"
    REGEX = "regex"


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
        text = _plain(self.answer)
        return text if len(text) <= width else text[: width - 1].rstrip() + "\u2026"


@dataclass(frozen=True)
class SignalWhy:
    """One exact signal of a hit: its type (code, reason, signature), text and weight."""

    type: str
    value: str
    weight: float


@dataclass(frozen=True)
class TermWhy:
    """One matched query term: the field it matched in, its boost and its BM25F share."""

    field: str
    term: str
    boost: float
    score: float


@dataclass(frozen=True)
class Why:
    """Why a hit ranks where it does (``as_json`` is the ``why`` object of ``--json``)."""

    kind: str
    signals: tuple[SignalWhy, ...] = ()
    bm25f: float = 0.0
    coverage: float = 0.0
    terms: tuple[TermWhy, ...] = field(default_factory=tuple)
    capped_by: str | None = None
    # The idf-weighted share of the query's words the hit matches (unknown words unexplained).
    explained: float = 0.0
    # BM25F over what a perfect match would score in the hit's own collection (kb.rank).
    strength: float = 0.0
    # Cosine similarity with the question when the semantic extra ranked it (kb.semantic).
    semantic: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON-ready form (key order and rounding as ``kb search --json`` prints it)."""
        return {
            "kind": self.kind,
            "signals": [{"type": s.type, "value": s.value, "weight": round(s.weight, 2)}
                        for s in self.signals],
            "text": {
                "bm25f": round(self.bm25f, 3),
                "coverage": round(self.coverage, 3),
                "explained": round(self.explained, 3),
                "strength": round(self.strength, 3),
                "terms": [{"field": t.field, "term": t.term, "boost": t.boost,
                           "score": round(t.score, 3)} for t in self.terms],
            },
            "capped_by": self.capped_by,
            "semantic": None if self.semantic is None else round(self.semantic, 3),
        }


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
        return {
            "id": self.entry.id,
            "title": self.entry.title,
            "score": round(self.score, 4),
            "confidence": round(self.confidence, 3),
            "collection": self.entry.collection,
            "why": self.why.as_json(),
            "answer": self.entry.answer,
        }


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
                                  versions=s.get("versions", ""))
        for s in fields.get("signatures", ())
    )
    fields["source"] = Source.model_construct(**fields["source"])
    return Entry.model_construct(**fields)


_MD_NOISE = re.compile(r"```.*?```|`|\*\*|__|\[([^\]]*)\]\([^)]*\)|^#+\s*|^>\s?", re.S | re.M)


def _plain(markdown: str) -> str:
    first = markdown.strip().split("\n\n", 1)[0]
    text = _MD_NOISE.sub(lambda m: m.group(1) or "", first)
    return " ".join(text.split())
