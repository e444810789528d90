"""KnowledgeBase: compiled entries + exact signals + full-text index, loaded from a cache."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.bm25 import TextIndex
from kb.cache import IndexCache, default_root
from kb.errors import ContentError, QueryError, UnknownEntryError
from kb.logline import Kind, Parsed, parse
from kb.rank import MAX_QUERY_CHARS, MergedSearcher, Query, Searcher
from kb.records import EntryRecord, EntryStore, HitRecord
from kb.signals import Signals, SignalTable

if TYPE_CHECKING:
    from kb.diagnose import Diagnoser, Diagnosis
    from kb.model import Entry, Hit

Part = tuple[str, EntryStore, TextIndex]  # a collection: its name, entries and text index


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
        collections: Sequence[tuple[str, Sequence[Entry] | EntryStore, TextIndex]] = (),
        semantic: bool | None = None, *, signals: Signals | None = None,
    ) -> None:
        """One collection (``entries`` and ``text``), or several side by side
        (``collections``: name, entries, index each; ``entries`` is then all of them).
        ``semantic``: blend in the semantic extra's ranking (None: when it is installed).
        ``signals``: the signal tables of all the entries, when known (else built)."""
        self._semantic = semantic
        self._vectors: Any = None
        self._all: list[Entry] | None = None
        parts: list[Part] = [(name, _store(part), index) for name, part, index in collections]
        if len(parts) > 1:
            self._entries = EntryStore.joined([part for _, part, _ in parts])
        else:
            self._entries = parts[0][1] if parts else _store(entries)
        if signals is None:
            signals = Signals(self._entries)
        if len(parts) > 1:
            searchers, start = [], 0
            for name, part, index in parts:
                searchers.append((name, Searcher(part, signals, index), start))
                start += len(part)
            self._searcher: Searcher = MergedSearcher(self._entries, signals, text, searchers)
        else:
            self._searcher = Searcher(self._entries, signals, text)
        self._parts = parts
        self._tables: dict[str, SignalTable] = {}  # each collection's, when loaded from a cache
        self.warnings: list[str] = list(warnings)
        self.name = ", ".join(self._entries.collections)

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def default(cls, *, cache_dir: Path | str | None = None,
                semantic: bool | None = None) -> KnowledgeBase:
        """The shipped mod_ssl FAQ."""
        return cls.from_paths([default_content_dir()], cache_dir=cache_dir, semantic=semantic)

    @classmethod
    def from_paths(
        cls, paths: Iterable[Path | str], *, rebuild: bool = False, strict: bool = False,
        cache_dir: Path | str | None = None, semantic: bool | None = None,
    ) -> KnowledgeBase:
        """Load Markdown files or folders, each path one collection with its own index (so
        collections side by side keep their own word statistics and confidences), through
        the index cache in ``cache_dir`` (default: the per-user cache directory).

        Broken content raises ContentError, unless ``strict`` is false and either an index
        built from earlier content of the same path exists (then that one is used) or other
        collections load (then the broken one is skipped); ``warnings`` says so, one line
        per collection. A cache that cannot be read or written falls back to an in-memory
        index. ``semantic``: see ``KnowledgeBase``.
        """
        store = IndexCache(Path(cache_dir) if cache_dir is not None else default_root())
        chosen = [Path(p) for p in paths]
        missing = [p for p in chosen if not p.exists()]
        if missing:  # a wrong path is the caller's mistake, not broken content: never skipped
            raise ContentError([f"{p}:0: no such file or folder: check the path (--kb / "
                                "KB_PATH)" for p in missing])
        names = collection_names(chosen)
        loaded: list[Part] = []
        tables: list[SignalTable] = []
        warnings: list[str] = []
        failed = []
        for path, name in zip(chosen, names, strict=True):
            try:
                part = store.load([path], compile_paths=_compiler(name), index=_index,
                                  rebuild=rebuild, strict=strict)
            except ContentError as exc:
                if strict or len(chosen) == 1:
                    raise
                failed.append(exc)
                more = f" (+{len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
                warnings.append(f"{exc.problems[0]}{more}; collection '{name}' ({path}) "
                                "skipped (--strict makes this an error)")
                continue
            loaded.append((name, part.entries.named(name), part.text))
            tables.append(SignalTable.from_data(part.tables["signals"]))
            warnings += part.warnings
        if not loaded:
            raise ContentError([p for exc in failed for p in exc.problems])
        signals = Signals(table=SignalTable.joined(tables, [len(p[1]) for p in loaded]))
        everything = loaded[0][1] if len(loaded) == 1 else EntryStore.joined(
            [part for _, part, _ in loaded])
        made = cls(everything, loaded[0][2], warnings, loaded, semantic, signals=signals)
        made._tables = {part[0]: table for part, table in zip(loaded, tables, strict=True)}
        return made

    def collections(self) -> list[str]:
        """The names of the collections, in load order."""
        return [name for name, _, _ in self._parts] or ([self.name] if self.name else [])

    def only(self, names: Iterable[str]) -> KnowledgeBase:
        """The same knowledge base restricted to the named collections (``--collection``);
        UnknownEntryError naming the known ones when a name is unknown."""
        wanted = list(dict.fromkeys(names))
        known = self.collections()
        unknown = [n for n in wanted if n not in known]
        if unknown:
            raise UnknownEntryError(f"no collection named {', '.join(unknown)} (loaded: "
                                    f"{', '.join(known)})")
        parts = [part for part in self._parts if part[0] in wanted] or list(self._parts)
        everything = parts[0][1] if len(parts) == 1 else EntryStore.joined(
            [part for _, part, _ in parts])
        return KnowledgeBase(everything, parts[0][2], self.warnings, parts, self._semantic,
                             signals=self._signals_of(parts))

    def _signals_of(self, parts: Sequence[Part]) -> Signals | None:
        """The signal tables of some of this knowledge base's collections, when it knows
        them per collection (else None: built again from the entries)."""
        if not all(name in self._tables for name, _, _ in parts):
            return None
        return Signals(table=SignalTable.joined([self._tables[name] for name, _, _ in parts],
                                                [len(entries) for _, entries, _ in parts]))

    @classmethod
    def from_entries(cls, entries: Sequence[Entry]) -> KnowledgeBase:
        """A knowledge base over entries made in code (in-memory index, no cache)."""
        from kb.whoosh_build import build_in_memory

        return cls(entries, build_in_memory(entries))

    # -- queries ---------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """All entries, in content order."""
        return list(self._models())

    def _models(self) -> list[Entry]:
        """Every entry as a model, made on first use and kept (the semantic extra reads
        them all on every search it blends; nothing else needs them all)."""
        if self._all is None:
            self._all = [self._entries.model(i) for i in range(len(self._entries))]
        return self._all

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
        """Rank entries for a log line, an excerpt or a question; best first. With the
        semantic extra (kb.semantic), an answer from words alone is checked against the
        sentence embedding, and questions kb has no confident answer for are ranked by kb's
        score and sentence similarity together."""
        return [hit.model() for hit in self.search_records(text, limit)]

    def search_records(self, text: str, limit: int = 5) -> list[HitRecord]:
        """``search`` with the hits as plain records (no pydantic model is built unless the
        semantic extra checks or re-ranks them)."""
        return self.search_query(self.build_query(text), limit)

    def search_query(self, query: Query, limit: int = 5) -> list[HitRecord]:
        """The hits ``search`` gives for a query made by ``build_query``: ``run_records``,
        then, with the semantic extra, its check and blend (``kb explain`` shows these)."""
        hits = self.run_records(query, limit)
        if self._semantic is False or not self._entries:
            return hits
        from kb import semantic

        # Input without a single word (``kb search - < /dev/zero``) loads no model.
        words = bool(query.terms) or query.unknown > 0
        if not semantic.should_blend(hits, words and query.parsed.kind is not Kind.LOG):
            return hits
        if self._semantic is None and not semantic.available():
            self._semantic = False
            return hits
        candidates = self.run(query, max(limit, semantic.CANDIDATES))
        blended = semantic.blend(query.parsed.text, candidates, self._models(),
                                 self.entry_vectors(), limit)
        return [HitRecord.of(hit) for hit in blended]

    def entry_vectors(self) -> Any:
        """The semantic extra's entry vectors (kb.semantic.EntryVectors), made or read from
        the cache beside each collection's index on first use."""
        if self._vectors is None:
            from kb.semantic import EntryVectors

            parts = self._parts or [("", self._entries, self._searcher.index)]
            models, vectors, start = self._models(), [], 0
            for _, entries, index in parts:
                vectors.append(EntryVectors.of(models[start : start + len(entries)],
                                               None if index.where == "memory"
                                               else Path(index.where)))
                start += len(entries)
            self._vectors = EntryVectors.joined(vectors)
        return self._vectors

    @property
    def semantic(self) -> bool:
        """True when ``search`` blends in the semantic extra (installed and not turned off)."""
        if self._semantic is None:
            from kb.semantic import available

            self._semantic = available()
        return self._semantic

    def search_parsed(self, parsed: Parsed, limit: int = 5) -> list[Hit]:
        """``search`` for an input parsed already (``kb.logline.parse``)."""
        return self.run(self._searcher.query(parsed), limit)

    def diagnoser(self, *, collect_unmatched: bool = False, source: str = "",
                  first_line: int = 1, since: str = "", host: str = "",
                  **limits: int) -> Diagnoser:
        """An incremental log diagnoser: feed text or lines, get problems as first seen.

        ``source`` names the input (a file, a host) in its problems; ``host`` is the server
        its lines are counted under when a line names none (default: the source's name
        without rotation suffixes, kb.logfiles.host_of); ``first_line`` is the
        number of its first line (for a part of a larger log); ``since`` (ISO 8601) leaves
        out lines with an earlier time; ``limits`` are ``max_variants`` (templates kept per
        entry) and ``max_unmatched``.
        """
        from kb.diagnose import Diagnoser

        return Diagnoser(self._searcher, collect_unmatched=collect_unmatched, source=source,
                         first_line=first_line, since=since, host=host, **limits)

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

    def index_locations(self) -> dict[str, str]:
        """Where each collection's index lives (a directory, or 'memory'), by name."""
        if not self._parts:
            return {self.name or "faq": self.index_location}
        return {name: index.where for name, _, index in self._parts}

    def __len__(self) -> int:
        return len(self._entries)


def collection_names(paths: Sequence[Path]) -> list[str]:
    """A name per content path: a file's stem, a folder's name (the one folder inside it
    when it holds only that: the shipped ``content/mod_ssl`` is ``mod_ssl``); repeated
    names get ``-2``, ``-3`` ..."""
    names: list[str] = []
    for path in paths:
        name = path.stem if path.is_file() else path.name
        if path.is_dir():
            inside = [p for p in path.iterdir() if not p.name.startswith(".")]
            if len(inside) == 1 and inside[0].is_dir():
                name = inside[0].name
        base, n = name or "faq", 2
        name = base
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


# The Markdown parser and whoosh are imported only to (re)build: never on a warm start.
def _compiler(collection: str) -> Callable[[Sequence[Path]], list[Entry]]:
    def compile_collection(paths: Sequence[Path]) -> list[Entry]:
        from kb.compiler import compile_paths

        return compile_paths(paths, collection=collection)

    return compile_collection


def _index(entries: Sequence[Entry], postings: Any) -> dict[str, Any]:
    """What the cache keeps of entries beside their records: the text index (its posting
    lists go to ``postings``) and the signal table."""
    from kb.whoosh_build import invert

    return {"text": invert(entries, postings),
            "signals": SignalTable.of(entries, reasons=True).as_data()}


def _store(entries: Sequence[Entry] | EntryStore) -> EntryStore:
    return entries if isinstance(entries, EntryStore) else EntryStore.of(entries)


def _checked(text: str) -> str:
    if not text or not text.strip():
        raise QueryError("empty query: give a log line or a question")
    return text
