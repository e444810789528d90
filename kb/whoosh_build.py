"""Building an index with whoosh: the only module that imports whoosh's indexing machinery.

whoosh builds the index: every entry goes through the schema below (kb.text.analyze on four
fields) and whoosh inverts it into posting lists with term weights and per-document field
lengths. Right after the build, kb exports what its BM25F scorer (kb.bm25) reads -- every
posting list, the field lengths and the stored ids -- into plain data that kb.cache writes to
one flat file. Loading that takes a few milliseconds and needs neither whoosh's reader nor its
searcher: importing those costs about 60 ms in every process, far too much for a command that
answers one question. A search process imports only ``whoosh.lang.porter``, the stemmer.
"""

from __future__ import annotations

import array
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from kb.bm25 import TextIndex
from kb.model import Entry
from kb.text import analyze
from kb.weights import WEIGHTS

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


def build_in_memory(entries: Sequence[Entry]) -> TextIndex:
    """An index that lives in memory only (fallback when the cache cannot be used)."""
    return TextIndex(export(entries), "memory")
