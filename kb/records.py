"""Plain-data entries and hits: what the warm path holds, ranks and renders, without pydantic.

Importing pydantic costs a process about 40 ms (a warm ``kb search`` is ~60 ms in all), so the
index cache hands out entries as their JSON data (``Entry.model_dump(mode="json")``), ranking
returns ``HitRecord`` views of them, and the pydantic models of ``kb.model`` -- the public
``Entry`` and ``Hit`` -- are built from these only when asked for (``model()``, never
validated: kb wrote and checked the data itself). ``EntryLike`` and ``HitLike`` are what a
renderer may read, so it takes either form.

``EntryStore`` holds a collection's entries by position and decodes one only when it is read:
a knowledge base of 100,000 entries opens without building them.
"""

from __future__ import annotations

import json
import re
import zlib
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from kb.model import Entry, Hit


class SignatureKind(StrEnum):
    """How a signature is matched against a line."""

    LITERAL = "literal"
    REGEX = "regex"


@dataclass(frozen=True)
class SignalWhy:
    """One exact signal of a hit: its type (code, reason, signature), text and weight."""

    type: str
    value: str
    weight: float
    # Found only on a line that reports an outcome (start-up failed, ...) in an excerpt whose
    # other lines give signals too (kb.signals.Signals.context): it counts as context.
    context: bool = False


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
    # With several collections side by side: how sure kb is that the answer is in this hit's
    # collection, by the input's words and how well each collection's best hit answers
    # (kb.rank.MergedSearcher; a text hit's confidence is scaled by it).
    collection_posterior: float | None = None
    # The input names another collection (MergedSearcher._named): this hit's exact signals
    # rank as text, its confidence scaled by the posterior.
    named_elsewhere: bool = False
    # Other collections' exact signals claim the input too (MergedSearcher._contested): the
    # share of this hit's exact-signal confidence it keeps; None when no other claims it.
    signal_share: float | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON-ready form (key order and rounding as ``kb search --json`` prints it)."""
        return {
            "kind": self.kind,
            "signals": [{"type": s.type, "value": s.value, "weight": round(s.weight, 2),
                         **({"context": True} if s.context else {})}
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
            "collection_posterior": (None if self.collection_posterior is None
                                     else round(self.collection_posterior, 3)),
            "signal_share": None if self.signal_share is None else round(self.signal_share, 3),
        }


class EntryLike(Protocol):
    """What a renderer reads of an entry: ``kb.Entry`` and ``EntryRecord`` both have it."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def answer(self) -> str: ...
    @property
    def section(self) -> str: ...
    @property
    def collection(self) -> str: ...
    @property
    def verified(self) -> str: ...
    @property
    def see_also(self) -> tuple[str, ...]: ...

    def summary(self, width: int = 160) -> str: ...


class HitLike(Protocol):
    """What a renderer reads of a hit: ``kb.Hit`` and ``HitRecord`` both have it."""

    @property
    def entry(self) -> EntryLike: ...
    @property
    def score(self) -> float: ...
    @property
    def confidence(self) -> float: ...
    @property
    def why(self) -> Why: ...

    def as_json(self) -> dict[str, Any]: ...


class SourceRecord(NamedTuple):
    """Where an entry was written: file and 1-based line of its heading."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class SignatureRecord(NamedTuple):
    """One signature of an entry (the fields of ``kb.Signature``)."""

    kind: SignatureKind
    text: str
    line: int = 0
    versions: str = ""
    peer: str = ""


class EntryRecord:
    """An entry as plain data: the fields of ``kb.Entry``, read from its JSON form."""

    __slots__ = ("_model", "data")

    def __init__(self, data: dict[str, Any], model: Entry | None = None) -> None:
        self.data = data
        self._model = model

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def title(self) -> str:
        return str(self.data["title"])

    @property
    def answer(self) -> str:
        return str(self.data["answer"])

    @property
    def section(self) -> str:
        return str(self.data.get("section", ""))

    @property
    def collection(self) -> str:
        return str(self.data.get("collection", ""))

    @property
    def verified(self) -> str:
        return str(self.data.get("verified", ""))

    @property
    def context(self) -> str:
        return str(self.data.get("context", ""))

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self.data.get("tags", ()))

    @property
    def questions(self) -> tuple[str, ...]:
        return tuple(self.data.get("questions", ()))

    @property
    def examples(self) -> tuple[str, ...]:
        return tuple(self.data.get("examples", ()))

    @property
    def see_also(self) -> tuple[str, ...]:
        return tuple(self.data.get("see_also", ()))

    @property
    def signatures(self) -> tuple[SignatureRecord, ...]:
        return tuple(SignatureRecord(SignatureKind(s["kind"]), s["text"], s.get("line", 0),
                                     s.get("versions", ""), s.get("peer", ""))
                     for s in self.data.get("signatures", ()))

    @property
    def source(self) -> SourceRecord:
        source = self.data["source"]
        return SourceRecord(source["file"], source["line"])

    def summary(self, width: int = 160) -> str:
        """The first paragraph of the answer as plain text, cut to ``width`` characters."""
        return summary_of(self.answer, width)

    def model(self) -> Entry:
        """This entry as the public pydantic model (built once, without validation)."""
        if self._model is None:
            from kb.model import trusted_entry

            self._model = trusted_entry(self.data)
        return self._model

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EntryRecord) and other.data == self.data

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"EntryRecord(id={self.id!r})"


@dataclass(frozen=True, slots=True)
class HitRecord:
    """One ranked answer as plain data: the fields of ``kb.Hit`` (``model()`` builds one)."""

    entry: EntryRecord
    score: float
    confidence: float
    why: Why

    @property
    def confident(self) -> bool:
        """True when the confidence reaches the calibrated threshold (kb.weights)."""
        from kb.weights import CONFIDENT

        return self.confidence >= CONFIDENT

    def as_json(self) -> dict[str, Any]:
        """The JSON-ready form used by ``kb search --json`` (the same as ``Hit.as_json``)."""
        return hit_json(self)

    @classmethod
    def of(cls, hit: Hit) -> HitRecord:
        """The record of a model (its entry's model kept)."""
        return cls(EntryRecord(hit.entry.model_dump(mode="json"), hit.entry), hit.score,
                   hit.confidence, hit.why)

    def model(self) -> Hit:
        """This hit as the public pydantic model (built without validation: ranking keeps
        the confidence in [0, 0.99]; the property tests validate every hit)."""
        from kb.model import Hit

        return Hit.model_construct(entry=self.entry.model(), score=self.score,
                                   confidence=self.confidence, why=self.why)


class _Joined:
    """Reads entry ``position`` of stores one after the other (picklable, unlike a closure:
    a log worker may get a searcher by pickle)."""

    def __init__(self, stores: Sequence[EntryStore]) -> None:
        self._stores = list(stores)
        self._starts: list[int] = []
        at = 0
        for store in self._stores:
            self._starts.append(at)
            at += len(store)

    def __call__(self, position: int) -> dict[str, Any]:
        n = bisect_right(self._starts, position) - 1
        return self._stores[n][position - self._starts[n]].data


def hit_json(hit: HitLike) -> dict[str, Any]:
    """The ``--json`` object of a hit, either form."""
    return {
        "id": hit.entry.id,
        "title": hit.entry.title,
        "score": round(hit.score, 4),
        "confidence": round(hit.confidence, 3),
        "collection": hit.entry.collection,
        "why": hit.why.as_json(),
        "answer": hit.entry.answer,
    }


_MD_NOISE = re.compile(r"```.*?```|`|\*\*|__|\[([^\]]*)\]\([^)]*\)|^#+\s*|^>\s?", re.S | re.M)


def summary_of(markdown: str, width: int) -> str:
    """The first paragraph of ``markdown`` as plain text, cut to ``width`` characters."""
    first = markdown.strip().split("\n\n", 1)[0]
    text = " ".join(_MD_NOISE.sub(lambda m: m.group(1) or "", first).split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "\u2026"


# -- a collection's entries, by position -------------------------------------------------------

RECORD_CACHE = 4096  # decoded records kept per store


def encode_record(data: dict[str, Any]) -> bytes:
    """One entry's JSON data as stored in the index cache (compressed JSON)."""
    return zlib.compress(json.dumps(data, ensure_ascii=False).encode("utf-8"), 6)


def decode_record(raw: bytes) -> dict[str, Any]:
    """The JSON data of one stored entry (``encode_record``'s inverse)."""
    data = json.loads(zlib.decompress(raw).decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("an entry record is not a JSON object")
    return data


class EntryStore(Sequence[EntryRecord]):
    """The entries of a knowledge base by position (== document number of the text index).

    ``read(position)`` gives an entry's JSON data: decoded from the cache's entry file on first
    use (a few kept), so opening costs nothing per entry; ids are held apart, for ranking's
    tie-break and lookups by id.
    """

    def __init__(self, ids: Sequence[str], read: Callable[[int], dict[str, Any]],
                 collections: Sequence[str] = (), name: str = "") -> None:
        self.ids = ids
        self._read = read
        self._name = name  # the collection every entry belongs to ('' : as stored)
        self._records: dict[int, EntryRecord] = {}
        self._positions: dict[str, int] | None = None
        self._keep_all = False  # entries made in code: every record is kept
        self.collections = tuple(collections)

    @classmethod
    def of(cls, entries: Sequence[Entry]) -> EntryStore:
        """A store over entries made in code (each kept as its JSON data)."""
        data = [e.model_dump(mode="json") for e in entries]
        store = cls([e.id for e in entries], data.__getitem__,
                    sorted({e.collection for e in entries if e.collection}))
        pairs = enumerate(zip(data, entries, strict=True))
        store._records = {i: EntryRecord(d, e) for i, (d, e) in pairs}
        store._keep_all = True
        return store

    def named(self, name: str) -> EntryStore:
        """The same entries as members of the collection ``name`` (an index built when the
        collection had another name holds that one)."""
        if self.collections == (name,):
            return self
        return EntryStore(self.ids, self._read, (name,), name)

    @classmethod
    def joined(cls, stores: Sequence[EntryStore]) -> EntryStore:
        """Several collections' entries one after the other."""
        ids = [i for store in stores for i in store.ids]
        names = dict.fromkeys(name for store in stores for name in store.collections)
        return cls(ids, _Joined(stores), list(names))

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, position: int) -> EntryRecord:  # type: ignore[override]
        record = self._records.get(position)
        if record is None:
            if not 0 <= position < len(self.ids):
                raise IndexError(position)
            if len(self._records) >= RECORD_CACHE and not self._keep_all:
                self._records.clear()
            data = self._read(position)
            if self._name and data.get("collection") != self._name:
                data = {**data, "collection": self._name}
            record = self._records[position] = EntryRecord(data)
        return record

    def __iter__(self) -> Iterator[EntryRecord]:
        return (self[i] for i in range(len(self.ids)))

    def position(self, entry_id: str) -> int | None:
        """The position of the entry with this id, or None."""
        if self._positions is None:
            self._positions = {name: i for i, name in enumerate(self.ids)}
        return self._positions.get(entry_id)

    def model(self, position: int) -> Entry:
        """The public model of one entry."""
        return self[position].model()
