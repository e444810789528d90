"""The full-text index: the only module that imports whoosh.

whoosh builds the index: every entry goes through the schema below (our analyzer on four
fields) and whoosh inverts it into posting lists with term weights and per-document field
lengths. Right after the build, kb exports what its BM25F scorer reads -- every posting list,
the field lengths and the stored ids -- into one flat file (``postings.bin``, marshal), and
searches read that. Loading it takes a few milliseconds and needs neither whoosh's reader nor
its searcher: importing those costs about 60 ms in every process, which alone would put a
whole ``kb search`` past its 150 ms budget (issue 4). A search process imports only
``whoosh.lang.porter``, the stemmer shared by indexing and queries.

Indexes are built in a temporary directory and renamed into place (atomic on one file system),
kept in the per-user cache directory under a name made of a hash of the content paths and a
hash of the content bytes plus the code version, so a content change builds a new index and a
broken content never touches the last good one. When the cache cannot be written (read-only,
full disk) the index is built in memory instead.
"""

from __future__ import annotations

import array
import hashlib
import heapq
import json
import marshal
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kb.errors import IndexStateError
from kb.model import Entry
from kb.text import tagged_words


@contextmanager
def _quiet_whoosh() -> Iterator[None]:
    """whoosh's sources carry invalid escape sequences that newer Pythons warn about."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


with _quiet_whoosh():
    from whoosh.lang.porter import stem

INDEX_FORMAT = "4"
ENTRIES_FILE = "entries.json"
POSTINGS_FILE = "postings.bin"
STAMP_FILE = "kb-complete"
MARSHAL_VERSION = 4  # readable by every Python 3 since 3.4

# Field -> query-time boost, per kind of input. For log text, signatures outrank the question,
# which outranks tags, which outrank the answer (DESIGN.md). For a question in words the
# signatures field (error strings and example lines) says little: common words are rare there,
# so their idf in that field would be misleadingly high.
FIELDS: dict[str, float] = {
    "signatures": 3.0,
    "title": 2.0,
    "tags": 1.5,
    "answer": 1.0,
}
QUESTION_FIELDS: dict[str, float] = {
    "title": 3.0,
    "tags": 1.5,
    "answer": 1.0,
    "signatures": 0.25,
}
# whoosh's English stop list (whoosh.analysis.STOP_WORDS, copied so that a search need not
# import whoosh's analysis package) ...
WHOOSH_STOPS = frozenset(
    "a an and are as at be by can for from have if in is it may not of on or tbd that the "
    "this to us we when will with yet you your".split()
)
# ... and English function words on top: they carry no topic in a question.
EXTRA_STOPS = frozenset(
    "i me my mine myself our ours he she his her they them their what which who whom how "
    "why where there here do does did doing done get gets got getting but so than too very "
    "just should would could about into over after before again any all some such only own "
    "same then once also still now im ive its dont doesnt cant isnt was were been being has "
    "had having am".split()
)
STOPS = WHOOSH_STOPS | EXTRA_STOPS
MIN_TERM_CHARS = 2


def analyze(text: str) -> list[str]:
    """The index terms of ``text`` (what a query on it searches for), in order, with repeats.

    Identifiers stay whole next to their parts (kb.text), plain words are stemmed, and stop
    words and one-letter terms are dropped. whoosh indexes through this same function.
    """
    terms = []
    for word, plain in tagged_words(text):
        if word in STOPS:
            continue
        term = _stem(word) if plain else word
        if len(term) >= MIN_TERM_CHARS and term not in STOPS:
            terms.append(term)
    return terms


@lru_cache(maxsize=50000)
def _stem(word: str) -> str:
    return str(stem(word))


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
        "tags": "\n".join((*entry.tags, entry.section)),
        "answer": entry.answer,
    }


def content_key(files: Sequence[Path], code_version: str) -> str:
    """A hash of the content bytes, their names and the code version."""
    digest = hashlib.sha256(f"{code_version}\0{INDEX_FORMAT}".encode())
    for path in files:
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def paths_key(paths: Iterable[Path]) -> str:
    """A hash naming a set of content paths (one lineage of indexes in the cache)."""
    joined = "\0".join(sorted(str(Path(p).resolve()) for p in paths))
    return hashlib.sha256(joined.encode()).hexdigest()[:12]


@dataclass
class Match:
    """One document the text query matched: its number (entry position), BM25F score and
    each (field, term, contribution) that made it."""

    doc: int
    score: float
    terms: list[tuple[str, str, float]]


BM25_B = 0.6
BM25_K1 = 1.2
POSTINGS_CACHE = 100_000  # (field, term) posting lists kept in memory
# In large collections a term found in more than this share of documents adds little but
# costs a pass over a long posting list; it is left out (never in collections under 2,000).
COMMON_SHARE = 0.25
COMMON_MIN_DF = 500


class TextIndex:
    """BM25F over the exported posting lists of a whoosh index (doc number == entry position).

    Scoring is whoosh's BM25F formula with whoosh's own idf and its stored (byte-quantised)
    field lengths, so scores equal those of whoosh's searcher; computed here over flat lists it
    is several times faster than whoosh's matcher tree and gives each term's contribution for
    free.
    """

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.where = where
        self._ids: list[str] = list(data["ids"])
        self._n = len(self._ids)
        self._terms: dict[str, dict[str, tuple[bytes, bytes]]] = data["terms"]
        self._lengths: dict[str, list[float]] = data["lengths"]
        self._avg = {f: (data["totals"][f] / self._n if self._n else 0.0) or 1.0
                     for f in self._lengths}
        self._postings: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self._idf: dict[tuple[str, str], float] = {}

    @property
    def doc_count(self) -> int:
        """Number of indexed documents."""
        return self._n

    @property
    def ids(self) -> list[str]:
        """The entry id stored for each document, in document order."""
        return list(self._ids)

    def query_terms(
        self, terms: Iterable[str], boosts: dict[str, float] | None = None
    ) -> list[tuple[str, str, float]]:
        """(field, term, boost) for every field that contains the term at all."""
        out = []
        for term in dict.fromkeys(terms):
            for field, boost in (boosts or FIELDS).items():
                if term in self._terms.get(field, {}):
                    out.append((field, term, boost))
        return out

    def search(self, triples: list[tuple[str, str, float]], limit: int) -> list[Match]:
        """BM25F over the (field, term, boost) triples; best ``limit`` documents."""
        scores: dict[int, float] = {}
        parts: dict[int, list[tuple[str, str, float]]] = {}
        common = max(COMMON_MIN_DF, int(self._n * COMMON_SHARE))
        for field, term, boost in triples:
            postings = self._posting_list(field, term)
            if len(postings) > common:
                continue
            idf = self.idf(field, term)
            lengths, avg = self._lengths[field], self._avg[field]
            norm = BM25_K1 * (1 - BM25_B)
            scale = BM25_K1 * BM25_B / avg
            for doc, tf in postings:
                value = boost * idf * (tf * (BM25_K1 + 1)) / (tf + norm + scale * lengths[doc])
                scores[doc] = scores.get(doc, 0.0) + value
                parts.setdefault(doc, []).append((field, term, value))
        best = heapq.nlargest(limit, scores.items(), key=lambda item: (item[1], -item[0]))
        return [Match(doc, score, sorted(parts[doc], key=lambda p: -p[2])) for doc, score in best]

    def _posting_list(self, field: str, term: str) -> list[tuple[int, float]]:
        key = (field, term)
        cached = self._postings.get(key)
        if cached is None:
            packed = self._terms.get(field, {}).get(term, (b"", b""))
            cached = list(zip(_unpack("I", packed[0]), _unpack("f", packed[1]), strict=True))
            if len(self._postings) >= POSTINGS_CACHE:
                self._postings.clear()
            self._postings[key] = cached
        return cached

    def idf(self, field: str, term: str) -> float:
        """whoosh's idf of a term in a field: log(N / (df + 1)) + 1."""
        key = (field, term)
        value = self._idf.get(key)
        if value is None:
            packed = self._terms.get(field, {}).get(term)
            df = len(packed[0]) // DOC_BYTES if packed else 0
            value = self._idf[key] = math.log(self._n / (df + 1)) + 1 if self._n else 0.0
        return value


DOC_BYTES = array.array("I").itemsize


def _unpack(typecode: str, raw: bytes) -> array.array[Any]:
    values = array.array(typecode)
    values.frombytes(raw)
    return values


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


def _whoosh_export(entries: Sequence[Entry], under: Path | None = None) -> dict[str, Any]:
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
    return TextIndex(_whoosh_export(entries), "memory")


def cache_root() -> Path:
    """Where indexes live: $KB_CACHE_DIR, else the per-user cache directory."""
    override = os.environ.get("KB_CACHE_DIR")
    if override:
        return Path(override)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kb", appauthor=False))


def index_dir(lineage: str, key: str) -> Path:
    """The directory of the index with this lineage and content key."""
    return cache_root() / f"idx-{lineage}-{key}"


def build_on_disk(
    entries: Sequence[Entry], lineage: str, key: str, force: bool = False
) -> Path:
    """Build into a temporary directory, then rename it into place; prune older builds."""
    final = index_dir(lineage, key)
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"tmp-{lineage}-", dir=root))
    try:
        postings = marshal.dumps(_whoosh_export(entries, under=tmp), MARSHAL_VERSION)
        (tmp / POSTINGS_FILE).write_bytes(postings)
        payload = json.dumps([e.model_dump(mode="json") for e in entries])
        (tmp / ENTRIES_FILE).write_text(payload, encoding="utf-8")
        (tmp / STAMP_FILE).write_text(f"{key}\n{_digest(_files(tmp))}\n", encoding="utf-8")
        _replace_dir(tmp, final, force)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _prune(root, lineage, keep=final)
    return final


def _replace_dir(tmp: Path, final: Path, force: bool) -> None:
    try:
        os.rename(tmp, final)
    except OSError:
        # Another process finished the same build first (the directory exists and is not
        # empty), or an old damaged copy sits there, or a forced rebuild replaces it: move
        # the old one aside and retry once.
        if is_complete(final) and not force:
            return
        aside = final.with_name(f"{final.name}.old-{os.getpid()}-{time.monotonic_ns()}")
        os.rename(final, aside)
        shutil.rmtree(aside, ignore_errors=True)
        os.rename(tmp, final)


def _prune(root: Path, lineage: str, keep: Path) -> None:
    """Remove older indexes of the same lineage and temporary leftovers older than an hour."""
    now = time.time()
    for path in root.glob(f"*-{lineage}-*"):
        try:
            stale_tmp = path.name.startswith("tmp-") and now - path.stat().st_mtime > 3600
        except OSError:  # another process's build, renamed or removed since the glob
            continue
        if path != keep and (path.name.startswith("idx-") or stale_tmp):
            shutil.rmtree(path, ignore_errors=True)


def is_complete(path: Path) -> bool:
    """True when ``path`` holds a finished build."""
    return (path / STAMP_FILE).is_file() and (path / ENTRIES_FILE).is_file()


def last_good(lineage: str) -> Path | None:
    """The newest complete index of this lineage, if any (used when content is broken)."""
    root = cache_root()
    if not root.is_dir():
        return None
    found = []
    for path in root.glob(f"idx-{lineage}-*"):
        try:
            found.append((path.stat().st_mtime, path))
        except OSError:  # pruned by another process since the glob
            continue
    complete = [item for item in found if is_complete(item[1])]
    return max(complete)[1] if complete else None


def _files(path: Path) -> dict[str, bytes]:
    """The bytes of every file of a built index but the stamp, by name."""
    return {item.name: item.read_bytes() for item in sorted(path.iterdir())
            if item.name != STAMP_FILE}


def _digest(files: Mapping[str, bytes]) -> str:
    """A hash of every file of a built index but the stamp (damage anywhere is caught)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name])
    return digest.hexdigest()


def open_on_disk(path: Path) -> tuple[TextIndex, list[dict[str, Any]]]:
    """Open a built index and its entries; IndexStateError when damaged.

    The stamp written last by the build holds a hash of every file, checked here: reading a
    small index costs about a millisecond and catches damage that would otherwise surface (or
    not) in the middle of a query.
    """
    try:
        lines = (path / STAMP_FILE).read_text(encoding="utf-8").split()
    except OSError as exc:
        raise IndexStateError(f"{path}: no build stamp ({exc.strerror})") from exc
    try:
        files = _files(path)
    except OSError as exc:
        raise IndexStateError(f"{path}: unreadable index files ({exc.strerror})") from exc
    if len(lines) != 2 or lines[1] != _digest(files):
        raise IndexStateError(f"{path}: index files do not match their build stamp")
    try:
        raw = json.loads(files[ENTRIES_FILE].decode("utf-8"))
        # Our own file in the user's cache, and its bytes matched the stamp's hash just above
        # (whoosh's own table of contents, read before, was a pickle).
        postings = marshal.loads(files[POSTINGS_FILE])  # noqa: S302
        text = TextIndex(postings, str(path))
        if not isinstance(raw, list) or text.ids != [item["id"] for item in raw]:
            raise IndexStateError(f"{path}: index and entries disagree")
    except IndexStateError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage in the files
        raise IndexStateError(f"{path}: damaged index ({type(exc).__name__}: {exc})") from exc
    return text, raw
