"""The index build: entries -> whoosh's posting lists, field lengths and totals, which kb.bm25
scores (the only module that imports whoosh's indexing machinery).

The index is whoosh's: every entry goes through the schema below (kb.text.analyze on four
fields), a term's weight is its frequency in the field and a field's length is whoosh's
byte-quantised one, so BM25F scores equal those of whoosh's searcher. ``Inverter`` computes
exactly what whoosh's writer stores, entry by entry in plain Python, without whoosh's writer
or reader: several times faster, in memory proportional to the postings (100,000 generated
entries build in under a minute and a half, compiling included; with whoosh, sixteen minutes).
``export`` is whoosh itself doing the same, kept as the reference the tests hold the
inverter to.

A search needs neither: it reads what ``invert`` wrote (importing whoosh's reader and
searcher costs about 60 ms in every process). A search process imports only
``whoosh.lang.porter``, the stemmer.
"""

from __future__ import annotations

import array
import io
import shutil
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kb.bm25 import DOC_BYTES, NO_POSTINGS, TextIndex, common_cut, impacts
from kb.text import analyze
from kb.weights import WEIGHTS

if TYPE_CHECKING:
    from kb.model import Entry

FIELDS = tuple(WEIGHTS.log_fields)  # the indexed text fields


@contextmanager
def _quiet_whoosh() -> Iterator[None]:
    """whoosh's sources carry invalid escape sequences that newer Pythons warn about."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


class Analyzer:
    """whoosh's analyzer protocol over ``analyze``, so the index holds exactly the terms a
    query asks for. (Not a whoosh class: defining one would import whoosh's analysis package
    on every search.)"""

    def __call__(
        self, value: str, positions: bool = False, chars: bool = False, start_pos: int = 0,
        mode: str = "", **kwargs: Any,
    ) -> Iterator[Any]:
        token = _whoosh().Token(positions, chars, mode=mode, **kwargs)
        for pos, term in enumerate(analyze(value), start_pos):
            token.text = term
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = pos
            if chars:
                token.startchar = token.endchar = 0
            yield token

    def has_morph(self) -> bool:
        """whoosh asks this of spelling fields; kb's fields keep no spelling data."""
        return False


@lru_cache(maxsize=1)
def _whoosh() -> Any:
    """whoosh's indexing machinery, imported on first build (never by a search)."""
    from types import SimpleNamespace

    with _quiet_whoosh():
        from whoosh import fields
        from whoosh.analysis import Token
        from whoosh.filedb.filestore import FileStorage, RamStorage

    class PrivateRamStorage(RamStorage):  # type: ignore[misc]
        """An in-memory index whose scratch files get a folder of their own.

        whoosh's RamStorage puts a writer's scratch files (sorted runs of postings, compound
        parts) in ``<system temp>/MAIN.tmp``, named after the index, and deletes that folder
        when done, under the feet of any other process building at the same moment. Here
        they go to folders under ``scratch``, a folder of this build's own; without one
        they stay in memory, which whoosh supports for builds small enough to need no
        sorted runs on disk.
        """

        def __init__(self, scratch: Path | None) -> None:
            super().__init__()
            self.scratch = scratch

        def temp_storage(self, name: str | None = None) -> Any:
            if self.scratch is None:
                return RamStorage()
            return FileStorage(tempfile.mkdtemp(dir=self.scratch)).create()

    return SimpleNamespace(fields=fields, Token=Token, RamStorage=PrivateRamStorage)


def _schema() -> Any:
    fields = _whoosh().fields
    text = {name: fields.TEXT(analyzer=Analyzer(), phrase=False) for name in FIELDS}
    return fields.Schema(id=fields.ID(stored=True, unique=True), **text)


def _document(entry: Entry) -> dict[str, str]:
    return {
        "id": entry.id,
        "signatures": "\n".join([s.text for s in entry.signatures] + list(entry.examples)),
        "title": "\n".join((entry.title, *entry.questions)),
        "tags": "\n".join((*entry.tags, entry.section, entry.context)),
        "answer": entry.answer,
    }


def _export(reader: Any) -> dict[str, Any]:
    """What TextIndex reads, taken from a whoosh reader: stored ids, per-field lengths as
    whoosh stores them, field totals and every posting list as (doc, weight) arrays."""
    n = int(reader.doc_count_all())
    terms: dict[str, dict[str, tuple[bytes, bytes]]] = {name: {} for name in FIELDS}
    for field, raw in reader.all_terms():
        if field not in terms:
            continue
        term = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        docs, weights = array.array("I"), array.array("f")
        for doc, weight in reader.postings(field, raw).items_as("weight"):
            docs.append(doc)
            weights.append(weight)
        terms[field][term] = (docs.tobytes(), weights.tobytes())
    return {
        "ids": [str(reader.stored_fields(doc)["id"]) for doc in range(n)],
        "lengths": {f: [float(reader.doc_field_length(doc, f, 1) or 1) for doc in range(n)]
                    for f in FIELDS},
        "totals": {f: float(reader.field_length(f) or 0) for f in FIELDS},
        "terms": terms,
    }


WRITER_LIMIT_MB = 128  # whoosh spills sorted runs of postings to scratch files beyond this


def export(entries: Sequence[Entry], under: Path | None = None) -> dict[str, Any]:
    """Index ``entries`` with whoosh (in memory) and export the result. whoosh's scratch
    files go to a fresh folder under ``under`` (else the system's temporary directory),
    removed at the end whatever whoosh leaves in it."""
    try:
        scratch: Path | None = Path(tempfile.mkdtemp(prefix="kb-whoosh-", dir=under))
    except OSError:
        scratch = None  # scratch files stay in memory
    try:
        ix = _whoosh().RamStorage(scratch).create_index(_schema())
        writer = ix.writer(limitmb=WRITER_LIMIT_MB)
        for entry in entries:
            writer.add_document(**_document(entry))
        writer.commit(optimize=True)
        with ix.reader() as reader:
            return _export(reader)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


# -- kb's inverter -------------------------------------------------------------------------------


class Sink(Protocol):
    """Where ``invert`` writes the posting lists (a file, a hashing writer, BytesIO)."""

    def write(self, data: bytes, /) -> Any: ...


class Inverter:
    """Posting lists, field lengths and totals of entries added one by one, exactly as
    whoosh's writer computes them for the schema above (``export`` is the reference)."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self._postings: dict[str, dict[str, tuple[array.array[int], array.array[float]]]] = {
            name: {} for name in FIELDS}
        self._lengths = {name: array.array("f") for name in FIELDS}
        self._totals = dict.fromkeys(FIELDS, 0)
        self._length_of = _quantiser()

    def add(self, entry: Entry) -> None:
        """Index one entry as the next document."""
        doc = len(self.ids)
        self.ids.append(entry.id)
        values = _document(entry)
        for name in FIELDS:
            terms = analyze(values[name])
            # whoosh stores a field's length as one byte (a log scale) and none for an empty
            # field, which kb's export has always read as 1.
            self._lengths[name].append(self._length_of(len(terms)) if terms else 1.0)
            self._totals[name] += len(terms)
            table = self._postings[name]
            for term, count in Counter(terms).items():
                lists = table.get(term)
                if lists is None:
                    lists = table[term] = (array.array("I"), array.array("f"))
                lists[0].append(doc)
                lists[1].append(count)

    def finish(self, out: Sink) -> dict[str, Any]:
        """Write every posting list to ``out`` (document numbers, weights, impacts: see
        kb.bm25) and return the rest of the index (what ``kb.bm25.TextIndex`` reads beside it)."""
        n = len(self.ids)
        common = common_cut(n)
        lengths = {name: values.tolist() for name, values in self._lengths.items()}
        terms: dict[str, dict[str, tuple[int, int, float]]] = {}
        frequencies: dict[str, dict[str, float]] = {}  # of the terms that keep no postings
        offset = 0
        for name in FIELDS:
            average = (self._totals[name] / n if n else 0.0) or 1.0
            terms[name] = {}
            for term, (docs, weights) in sorted(self._postings[name].items()):
                df = len(docs)
                if df > common:  # never scored (kb.bm25): its document frequency is enough,
                    terms[name][term] = (NO_POSTINGS, df, 0.0)  # and for a collection
                    frequencies.setdefault(name, {})[term] = float(sum(weights))  # prior
                    continue
                factors = impacts(docs, weights, lengths[name], average)
                terms[name][term] = (offset, df, max(factors))
                out.write(docs.tobytes())
                out.write(weights.tobytes())
                out.write(array.array("f", factors).tobytes())
                offset += 3 * df * DOC_BYTES
        return {
            "ids": list(self.ids),
            "lengths": {name: values.tobytes() for name, values in self._lengths.items()},
            "totals": {name: float(total) for name, total in self._totals.items()},
            "terms": terms,
            "frequencies": frequencies,
            "common": common,
            "k1": WEIGHTS.bm25_k1,
            "b": WEIGHTS.bm25_b,
        }


def invert(entries: Iterable[Entry], out: Sink) -> dict[str, Any]:
    """Index ``entries``: the posting lists go to ``out``, the rest is returned."""
    inverter = Inverter()
    for entry in entries:
        inverter.add(entry)
    return inverter.finish(out)


def _quantiser() -> Any:
    """whoosh's field length as stored: ``byte_to_length(length_to_byte(n))``."""
    with _quiet_whoosh():
        from whoosh.util.numeric import byte_to_length, length_to_byte

    @lru_cache(maxsize=4096)
    def length(n: int) -> float:
        return float(byte_to_length(length_to_byte(n)))

    return length


def build_in_memory(entries: Sequence[Entry]) -> TextIndex:
    """An index that lives in memory only (entries made in code, or no usable cache)."""
    out = io.BytesIO()
    data = invert(entries, out)
    return TextIndex(data, "memory", out.getvalue())


def unpacked(data: dict[str, Any], postings: Any) -> dict[str, Any]:
    """An inverted index in ``export``'s form (the posting lists of the terms a query can
    score), to compare the two builds."""
    terms: dict[str, dict[str, tuple[bytes, bytes]]] = {}
    for name, table in data["terms"].items():
        terms[name] = {}
        for term, (offset, df, _) in table.items():
            if offset != NO_POSTINGS:
                middle = offset + df * DOC_BYTES
                terms[name][term] = (bytes(postings[offset:middle]),
                                     bytes(postings[middle : middle + df * DOC_BYTES]))
    lengths = {}
    for name, raw in data["lengths"].items():
        values = array.array("f")
        values.frombytes(raw)
        lengths[name] = values.tolist()
    return {"ids": data["ids"], "lengths": lengths, "totals": data["totals"], "terms": terms}
