"""KnowledgeBase: compiled entries + exact signals + full-text index, loaded from a cache."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.bm25 import TextIndex
from kb.cache import IndexCache, default_root
from kb.errors import ContentError, QueryError, UnknownEntryError
from kb.logline import Parsed, parse
from kb.rank import MAX_QUERY_CHARS, Query, Searcher
from kb.records import EntryRecord, EntryStore, HitRecord
from kb.signals import Signals, SignalTable

if TYPE_CHECKING:
    from kb.diagnose import Diagnoser, Diagnosis
    from kb.model import Entry, Hit


def default_content_dir() -> Path:
    """The shipped FAQ: ``kb/content`` in an installed wheel, ``content/`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "content", here.parent / "content"):
        if candidate.is_dir():
            return candidate
    raise ContentError([f"{here / 'content'}:0: the shipped FAQ is missing: reinstall kb"])


class KnowledgeBase:
    """Searchable FAQ entries from one or more Markdown collections.

    Entries are held as plain records and decoded from the index cache when first read; the
    methods that return ``Entry`` and ``Hit`` build those models on the way out, and the
    ``*_records`` ones return the plain forms (what the CLI renders, without pydantic).
    """

    def __init__(
        self, entries: Sequence[Entry] | EntryStore, text: TextIndex, warnings: Sequence[str] = (),
        *, signals: Signals | None = None,
    ) -> None:
        self._entries = entries if isinstance(entries, EntryStore) else EntryStore.of(entries)
        if signals is None:
            signals = Signals(self._entries)
        self._searcher = Searcher(self._entries, signals, text)
        self.warnings: list[str] = list(warnings)
        self.name = ", ".join(self._entries.collections)

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def default(cls, *, cache_dir: Path | str | None = None) -> KnowledgeBase:
        """The shipped mod_ssl FAQ."""
        return cls.from_paths([default_content_dir()], cache_dir=cache_dir)

    @classmethod
    def from_paths(
        cls, paths: Iterable[Path | str], *, rebuild: bool = False, strict: bool = False,
        cache_dir: Path | str | None = None,
    ) -> KnowledgeBase:
        """Load Markdown files or folders (several combine), through the index cache in
        ``cache_dir`` (default: the per-user cache directory).

        Broken content raises ContentError, unless an index built from earlier content of the
        same paths exists and ``strict`` is false: then that one is used and ``warnings`` says
        so. A cache that cannot be read or written falls back to an in-memory index.
        """
        store = IndexCache(Path(cache_dir) if cache_dir is not None else default_root())
        loaded = store.load([Path(p) for p in paths], compile_paths=_compile, index=_index,
                            rebuild=rebuild, strict=strict)
        table = SignalTable.from_data(loaded.tables["signals"])
        return cls(loaded.entries, loaded.text, loaded.warnings, signals=Signals(table=table))

    @classmethod
    def from_entries(cls, entries: Sequence[Entry]) -> KnowledgeBase:
        """A knowledge base over entries made in code (in-memory index, no cache)."""
        from kb.whoosh_build import build_in_memory

        return cls(entries, build_in_memory(entries))

    # -- queries ---------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """All entries, in content order."""
        return [self._entries.model(i) for i in range(len(self._entries))]

    def get(self, entry_id: str) -> Entry:
        """The entry with this id; UnknownEntryError (a KbError) when there is none."""
        return self.record(entry_id).model()

    def record(self, entry_id: str) -> EntryRecord:
        """``get`` as a plain record."""
        position = self._entries.position(entry_id)
        if position is None:
            close = [i for i in self._entries.ids if entry_id.lower() in i][:3]
            hint = f" (did you mean: {', '.join(close)}?)" if close else ""
            raise UnknownEntryError(f"no entry with id '{entry_id}'{hint}")
        return self._entries[position]

    def build_query(self, text: str) -> Query:
        """The query ``search`` would run for ``text`` (for explanations)."""
        return self._searcher.query(parse(_checked(text)[:MAX_QUERY_CHARS]))

    def run(self, query: Query, limit: int = 5) -> list[Hit]:
        """Run a query made by ``build_query``."""
        return self._searcher.run(query, limit)

    def run_records(self, query: Query, limit: int = 5) -> list[HitRecord]:
        """``run`` with the hits as plain records."""
        return self._searcher.rank(query, limit)

    def search(self, text: str, limit: int = 5) -> list[Hit]:
        """Rank entries for a log line, an excerpt or a question; best first."""
        return self.run(self.build_query(text), limit)

    def search_records(self, text: str, limit: int = 5) -> list[HitRecord]:
        """``search`` with the hits as plain records (no pydantic model is built)."""
        return self.run_records(self.build_query(text), limit)

    def search_parsed(self, parsed: Parsed, limit: int = 5) -> list[Hit]:
        """``search`` for an input parsed already (``kb.logline.parse``)."""
        return self.run(self._searcher.query(parsed), limit)

    def diagnoser(self, *, collect_unmatched: bool = False, source: str = "",
                  first_line: int = 1, **limits: int) -> Diagnoser:
        """An incremental log diagnoser: feed text or lines, get problems as first seen.

        ``source`` names the input (a file, a host) in its problems; ``first_line`` is the
        number of its first line (for a part of a larger log); ``limits`` are
        ``max_variants`` (templates kept per entry) and ``max_unmatched``.
        """
        from kb.diagnose import Diagnoser

        return Diagnoser(self._searcher, collect_unmatched=collect_unmatched, source=source,
                         first_line=first_line, **limits)

    def diagnose(self, lines: Iterable[str]) -> Diagnosis:
        """Diagnose a whole log: problems (one per entry and template), worst first."""
        diagnoser = self.diagnoser()
        diagnoser.feed(lines)
        diagnoser.flush()
        return diagnoser.result()

    @property
    def searcher(self) -> Searcher:
        """Entries, signal tables and text index: what ranking (and a log worker) needs."""
        return self._searcher

    @property
    def signals(self) -> Signals:
        """The exact-signal tables (AH codes, OpenSSL reasons, signatures)."""
        return self._searcher.signals

    @property
    def index_location(self) -> str:
        """Where the full-text index lives (a directory, or 'memory')."""
        return self._searcher.index.where

    def __len__(self) -> int:
        return len(self._entries)


# The Markdown parser and whoosh are imported only to (re)build: never on a warm start.
def _compile(paths: Sequence[Path]) -> list[Entry]:
    from kb.compiler import compile_paths

    return compile_paths(paths)


def _index(entries: Sequence[Entry], postings: Any) -> dict[str, Any]:
    """What the cache keeps of entries beside their records: the text index (its posting
    lists go to ``postings``) and the signal table."""
    from kb.whoosh_build import invert

    return {"text": invert(entries, postings),
            "signals": SignalTable.of(entries, reasons=True).as_data()}


def _checked(text: str) -> str:
    if not text or not text.strip():
        raise QueryError("empty query: give a log line or a question")
    return text
