"""The full-text index: the only module that imports whoosh.

Indexes are built in a temporary directory and renamed into place (atomic on one file system),
kept in the per-user cache directory under a name made of a hash of the content paths and a
hash of the content bytes plus the code version, so a content change builds a new index and a
broken content never touches the last good one. When the cache cannot be written (read-only,
full disk) the index is built in memory instead.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # whoosh's sources carry invalid escape sequences that newer Pythons warn about.
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from whoosh import index as whoosh_index
    from whoosh import scoring
    from whoosh.analysis import STOP_WORDS, StopFilter, Token, Tokenizer
    from whoosh.fields import ID, TEXT, Schema
    from whoosh.filedb.filestore import RamStorage
    from whoosh.lang.porter import stem
    from whoosh.reading import TermNotFound

from kb.errors import IndexStateError
from kb.model import Entry
from kb.text import tagged_words

INDEX_FORMAT = "3"
ENTRIES_FILE = "entries.json"
STAMP_FILE = "kb-complete"

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
# English function words on top of whoosh's list: they carry no topic in a question.
EXTRA_STOPS = frozenset(
    "i me my mine myself our ours he she his her they them their what which who whom how "
    "why where there here do does did doing done get gets got getting but so than too very "
    "just should would could about into over after before again any all some such only own "
    "same then once also still now im ive its dont doesnt cant isnt was were been being has "
    "had having am".split()
)


class _KbTokenizer(Tokenizer):  # type: ignore[misc]
    """whoosh adapter around kb.text.tagged_words: identifiers kept whole, words stemmed."""

    def __call__(  # type: ignore[override]
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for pos, (word, plain) in enumerate(tagged_words(value), start_pos):
            token.text = _stem(word) if plain else word
            token.boost = 1.0
            token.stopped = False
            if positions:
                token.pos = pos
            if chars:
                token.startchar = token.endchar = start_char
            yield token


@lru_cache(maxsize=50000)
def _stem(word: str) -> str:
    return str(stem(word))


ANALYZER = _KbTokenizer() | StopFilter(minsize=2, stoplist=STOP_WORDS | EXTRA_STOPS)


def analyze(text: str) -> list[str]:
    """The index terms of ``text`` (what a query on it searches for), in order, with repeats."""
    return [t.text for t in ANALYZER(text)]


def _schema() -> Schema:
    text = {name: TEXT(analyzer=ANALYZER, phrase=False) for name in FIELDS}
    return Schema(id=ID(stored=True, unique=True), **text)


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
    """An open whoosh index over a list of entries (doc number == entry position).

    whoosh stores and analyses; scoring is whoosh's BM25F formula (same idf, same stored
    field lengths) computed here over cached posting lists, which for a small knowledge base
    is several times faster than whoosh's matcher tree and gives each term's contribution
    for free.
    """

    def __init__(self, ix: Any, where: str) -> None:
        self._ix = ix
        self.where = where
        self._searcher = ix.searcher(weighting=scoring.BM25F(B=BM25_B, K1=BM25_K1))
        self._reader = self._searcher.reader()
        self._n = int(self._searcher.doc_count_all())
        self._lengths: dict[str, list[float]] = {}
        self._avg: dict[str, float] = {}
        self._postings: dict[tuple[str, str], list[tuple[int, float]]] = {}
        self._idf: dict[tuple[str, str], float] = {}

    def close(self) -> None:
        """Release the searcher's files."""
        self._searcher.close()

    @property
    def doc_count(self) -> int:
        """Number of indexed documents."""
        return self._n

    def stored_id(self, doc: int) -> str:
        """The entry id stored for document ``doc``."""
        return str(self._searcher.stored_fields(doc)["id"])

    def query_terms(
        self, terms: Iterable[str], boosts: dict[str, float] | None = None
    ) -> list[tuple[str, str, float]]:
        """(field, term, boost) for every field that contains the term at all."""
        out = []
        for term in dict.fromkeys(terms):
            for field, boost in (boosts or FIELDS).items():
                if (field, term) in self._reader:
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
            lengths, avg = self._field_lengths(field)
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
            try:
                cached = list(self._reader.postings(field, term).items_as("weight"))
            except TermNotFound:
                cached = []
            if len(self._postings) >= POSTINGS_CACHE:
                self._postings.clear()
            self._postings[key] = cached
        return cached

    def _field_lengths(self, field: str) -> tuple[list[float], float]:
        lengths = self._lengths.get(field)
        if lengths is None:
            length_of = self._reader.doc_field_length
            lengths = [float(length_of(doc, field, 1) or 1) for doc in range(self._n)]
            self._lengths[field] = lengths
            self._avg[field] = float(self._searcher.avg_field_length(field) or 1.0)
        return lengths, self._avg[field]

    def idf(self, field: str, term: str) -> float:
        """whoosh's idf of a term in a field: log(N / (df + 1)) + 1."""
        key = (field, term)
        value = self._idf.get(key)
        if value is None:
            df = self._reader.doc_frequency(field, term)
            value = self._idf[key] = math.log(self._n / (df + 1)) + 1 if self._n else 0.0
        return value


def _text(term: Any) -> str:
    return term.decode("utf-8") if isinstance(term, bytes) else str(term)


def _write(ix: Any, entries: Sequence[Entry]) -> None:
    writer = ix.writer()
    for entry in entries:
        writer.add_document(**_document(entry))
    writer.commit(optimize=True)


def build_in_memory(entries: Sequence[Entry]) -> TextIndex:
    """An index that lives in memory only (fallback when the cache cannot be used)."""
    ix = RamStorage().create_index(_schema())
    _write(ix, entries)
    return TextIndex(ix, "memory")


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
        ix = whoosh_index.create_in(str(tmp), _schema())
        _write(ix, entries)
        ix.close()
        payload = json.dumps([e.model_dump(mode="json") for e in entries])
        (tmp / ENTRIES_FILE).write_text(payload, encoding="utf-8")
        (tmp / STAMP_FILE).write_text(f"{key}\n{_digest(tmp)}\n", encoding="utf-8")
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
        stale_tmp = path.name.startswith("tmp-") and now - path.stat().st_mtime > 3600
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
    found = [p for p in root.glob(f"idx-{lineage}-*") if is_complete(p)]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def _digest(path: Path) -> str:
    """A hash of every file of a built index but the stamp (damage anywhere is caught)."""
    digest = hashlib.sha256()
    for item in sorted(path.iterdir()):
        if item.name != STAMP_FILE:
            digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()


def open_on_disk(path: Path) -> tuple[TextIndex, list[dict[str, Any]]]:
    """Open a built index and its entries; IndexStateError when damaged.

    The stamp written last by the build holds a hash of every file, checked here: reading a
    small index costs about a millisecond and catches damage that whoosh would only notice
    (or not) in the middle of a query.
    """
    try:
        lines = (path / STAMP_FILE).read_text(encoding="utf-8").split()
    except OSError as exc:
        raise IndexStateError(f"{path}: no build stamp ({exc.strerror})") from exc
    if len(lines) != 2 or lines[1] != _digest(path):
        raise IndexStateError(f"{path}: index files do not match their build stamp")
    try:
        raw = json.loads((path / ENTRIES_FILE).read_text(encoding="utf-8"))
        ix = whoosh_index.open_dir(str(path))
        text = TextIndex(ix, str(path))
        if text.doc_count != len(raw) or (raw and text.stored_id(len(raw) - 1) != raw[-1]["id"]):
            raise IndexStateError(f"{path}: index and entries disagree")
    except IndexStateError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage in whoosh's files or the JSON
        raise IndexStateError(f"{path}: damaged index ({type(exc).__name__}: {exc})") from exc
    return text, raw
