"""KnowledgeBase: compiled entries + exact signals + full-text index, loaded from a cache."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.bm25 import TextIndex
from kb.cache import IndexCache, default_root
from kb.errors import ContentError, QueryError, UnknownEntryError
from kb.logline import Kind, Parsed, parse
from kb.model import Entry, Hit
from kb.rank import MAX_QUERY_CHARS, MergedSearcher, Query, Searcher
from kb.signals import Signals

if TYPE_CHECKING:
    from kb.diagnose import Diagnoser, Diagnosis


def default_content_dir() -> Path:
    """The shipped FAQ: ``kb/content`` in an installed wheel, ``content/`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "content", here.parent / "content"):
        if candidate.is_dir():
            return candidate
    raise ContentError([f"{here / 'content'}:0: the shipped FAQ is missing: reinstall kb"])


class KnowledgeBase:
    """Searchable FAQ entries from one or more Markdown collections."""

    def __init__(
        self, entries: Sequence[Entry], text: TextIndex, warnings: Sequence[str] = (),
        collections: Sequence[tuple[str, Sequence[Entry], TextIndex]] = (),
        semantic: bool | None = None,
    ) -> None:
        """One collection (``entries`` and ``text``), or several side by side
        (``collections``: name, entries, index each; ``entries`` is then all of them).
        ``semantic``: blend in the semantic extra's ranking (None: when it is installed)."""
        self._semantic = semantic
        self._vectors: Any = None
        self._entries = list(entries)
        self._by_id = {e.id: e for e in self._entries}
        signals = Signals(self._entries)
        self._collections = [(name, list(part)) for name, part, _ in collections]
        if len(collections) > 1:
            parts, start = [], 0
            for name, part, index in collections:
                parts.append((name, Searcher(list(part), signals, index), start))
                start += len(part)
            self._searcher: Searcher = MergedSearcher(self._entries, signals, text, parts)
        else:
            self._searcher = Searcher(self._entries, signals, text)
        self._parts = list(collections)
        self.warnings: list[str] = list(warnings)
        self.name = ", ".join(sorted({e.collection for e in self._entries if e.collection}))

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
        loaded, warnings, failed = [], [], []
        for path, name in zip(chosen, names, strict=True):
            try:
                part = store.load([path], compile_paths=_compiler(name), export=_export,
                                  in_memory=_in_memory, rebuild=rebuild, strict=strict)
            except ContentError as exc:
                if strict or len(chosen) == 1:
                    raise
                failed.append(exc)
                more = f" (+{len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
                warnings.append(f"{exc.problems[0]}{more}; collection '{name}' ({path}) "
                                "skipped (--strict makes this an error)")
                continue
            entries = [e if e.collection == name else e.model_copy(update={"collection": name})
                       for e in part.entries]
            loaded.append((name, entries, part.text))
            warnings += part.warnings
        if not loaded:
            raise ContentError([p for exc in failed for p in exc.problems])
        if len(loaded) == 1:
            return cls(loaded[0][1], loaded[0][2], warnings, loaded, semantic)
        everything = [e for _, part_entries, _ in loaded for e in part_entries]
        return cls(everything, loaded[0][2], warnings, loaded, semantic)

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
        everything = [e for _, part_entries, _ in parts for e in part_entries]
        return KnowledgeBase(everything, parts[0][2], self.warnings, parts, self._semantic)

    @classmethod
    def from_entries(cls, entries: Sequence[Entry]) -> KnowledgeBase:
        """A knowledge base over entries made in code (in-memory index, no cache)."""
        from kb.whoosh_build import build_in_memory

        return cls(entries, build_in_memory(entries))

    # -- queries ---------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        """All entries, in content order."""
        return list(self._entries)

    def get(self, entry_id: str) -> Entry:
        """The entry with this id; UnknownEntryError (a KbError) when there is none."""
        try:
            return self._by_id[entry_id]
        except KeyError:
            close = [i for i in self._by_id if entry_id.lower() in i][:3]
            hint = f" (did you mean: {', '.join(close)}?)" if close else ""
            raise UnknownEntryError(f"no entry with id '{entry_id}'{hint}") from None

    def build_query(self, text: str) -> Query:
        """The query ``search`` would run for ``text`` (for explanations)."""
        return self._searcher.query(parse(_checked(text)[:MAX_QUERY_CHARS]))

    def run(self, query: Query, limit: int = 5) -> list[Hit]:
        """Run a query made by ``build_query``."""
        return self._searcher.run(query, limit)

    def search(self, text: str, limit: int = 5) -> list[Hit]:
        """Rank entries for a log line, an excerpt or a question; best first. With the
        semantic extra (kb.semantic), questions kb has no confident answer for are ranked
        by kb's score and sentence similarity together."""
        query = self.build_query(text)
        hits = self.run(query, limit)
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
        return semantic.blend(query.parsed.text, candidates, self._entries,
                              self.entry_vectors(), limit)

    def entry_vectors(self) -> Any:
        """The semantic extra's entry vectors (kb.semantic.EntryVectors), made or read from
        the cache beside each collection's index on first use."""
        if self._vectors is None:
            from kb.semantic import EntryVectors

            parts = self._parts or [("", self._entries, self._searcher.index)]
            self._vectors = EntryVectors.joined([
                EntryVectors.of(entries, None if index.where == "memory" else Path(index.where))
                for _, entries, index in parts])
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


def _export(entries: Sequence[Entry], under: Path) -> dict[str, Any]:
    from kb.whoosh_build import export

    return export(entries, under)


def _in_memory(entries: Sequence[Entry]) -> TextIndex:
    from kb.whoosh_build import build_in_memory

    return build_in_memory(entries)


def _checked(text: str) -> str:
    if not text or not text.strip():
        raise QueryError("empty query: give a log line or a question")
    return text
