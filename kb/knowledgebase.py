"""KnowledgeBase: compiled entries + exact signals + full-text index, loaded from a cache."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from kb import index
from kb.errors import ContentError, IndexStateError, UnknownEntryError
from kb.files import markdown_files
from kb.model import Entry, Hit, trusted_entry
from kb.signals import Signals

if TYPE_CHECKING:
    from kb.diagnose import Diagnoser, Diagnosis
    from kb.rank import Query

_CODE_FILES = ("compiler.py", "index.py", "model.py", "text.py", "openssl.py", "regexguard.py")


def default_content_dir() -> Path:
    """The shipped FAQ: ``kb/content`` in an installed wheel, ``content/`` in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "content", here.parent / "content"):
        if candidate.is_dir():
            return candidate
    raise ContentError([f"{here / 'content'}:0: the shipped FAQ is missing: reinstall kb"])


@cache
def code_version() -> str:
    """The package version plus a hash of the modules that shape an index."""
    from kb import __version__

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for name in _CODE_FILES:
        digest.update((here / name).read_bytes())
    return f"{__version__}+{digest.hexdigest()[:8]}"


class KnowledgeBase:
    """Searchable FAQ entries from one or more Markdown collections."""

    def __init__(
        self, entries: Sequence[Entry], text: index.TextIndex, warnings: Sequence[str] = ()
    ) -> None:
        self._entries = list(entries)
        self._by_id = {e.id: e for e in self._entries}
        self._text = text
        self._signals = Signals(self._entries)
        self.warnings: list[str] = list(warnings)
        self.name = ", ".join(sorted({e.collection for e in self._entries if e.collection}))

    # -- loading ---------------------------------------------------------------------------

    @classmethod
    def default(cls) -> KnowledgeBase:
        """The shipped mod_ssl FAQ."""
        return cls.from_paths([default_content_dir()])

    @classmethod
    def from_paths(
        cls, paths: Iterable[Path | str], *, rebuild: bool = False, strict: bool = False
    ) -> KnowledgeBase:
        """Load Markdown files or folders (several combine), through the index cache.

        Broken content raises ContentError, unless an index built from earlier content of the
        same paths exists and ``strict`` is false: then that one is used and ``warnings`` says
        so. A cache that cannot be read or written falls back to an in-memory index.
        """
        chosen = [Path(p) for p in paths]
        files = markdown_files(chosen)
        lineage = index.paths_key(chosen)
        key = index.content_key(files, code_version())
        final = index.index_dir(lineage, key)
        if not rebuild and index.is_complete(final):
            loaded = _open(final)
            if loaded is not None:
                return loaded
        try:
            from kb.compiler import compile_paths  # the Markdown parser: only to (re)build

            entries = compile_paths(chosen)
        except ContentError as exc:
            previous = None if strict else index.last_good(lineage)
            fallback = _open(previous) if previous is not None else None
            if fallback is None:
                raise
            first = exc.problems[0]
            more = f" (+{len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
            fallback.warnings.append(f"{first}{more}; using the last good index")
            return fallback
        return cls._build(entries, lineage, key, force=rebuild)

    @classmethod
    def from_entries(cls, entries: Sequence[Entry]) -> KnowledgeBase:
        """A knowledge base over entries made in code (in-memory index, no cache)."""
        return cls(entries, index.build_in_memory(entries))

    @classmethod
    def _build(
        cls, entries: list[Entry], lineage: str, key: str, force: bool = False
    ) -> KnowledgeBase:
        try:
            path = index.build_on_disk(entries, lineage, key, force)
            text, _ = index.open_on_disk(path)
        except (OSError, IndexStateError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            warning = f"index cache not usable ({reason}); using an in-memory index"
            return cls(entries, index.build_in_memory(entries), [warning])
        return cls(entries, text)

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
        from kb.rank import build_query

        return build_query(_checked(text), self._signals, self._text)

    def run(self, query: Query, limit: int = 5) -> list[Hit]:
        """Run a query made by ``build_query``."""
        from kb.rank import run

        return run(query, self._entries, self._text, limit)

    def search(self, text: str, limit: int = 5) -> list[Hit]:
        """Rank entries for a log line, an excerpt or a question; best first."""
        return self.run(self.build_query(text), limit)

    def diagnoser(self, *, collect_unmatched: bool = False) -> Diagnoser:
        """An incremental log diagnoser: feed text or lines, get problems as first seen."""
        from kb.diagnose import Diagnoser

        return Diagnoser(self, collect_unmatched=collect_unmatched)

    def diagnose(self, lines: Iterable[str]) -> Diagnosis:
        """Diagnose a whole log: problems (one per entry and template), worst first."""
        diagnoser = self.diagnoser()
        diagnoser.feed(lines)
        diagnoser.flush()
        return diagnoser.result()

    @property
    def signals(self) -> Signals:
        """The exact-signal tables (AH codes, OpenSSL reasons, signatures)."""
        return self._signals

    @property
    def index_location(self) -> str:
        """Where the full-text index lives (a directory, or 'memory')."""
        return self._text.where

    def __len__(self) -> int:
        return len(self._entries)


def _checked(text: str) -> str:
    from kb.errors import QueryError

    if not text or not text.strip():
        raise QueryError("empty query: give a log line or a question")
    return text


def _open(path: Path) -> KnowledgeBase | None:
    try:
        text, raw = index.open_on_disk(path)
        entries = [trusted_entry(item) for item in raw]
    except (IndexStateError, ValueError, OSError):
        shutil.rmtree(path, ignore_errors=True)
        return None
    return KnowledgeBase(entries, text)
