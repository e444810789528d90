"""The on-disk index cache: the one owner of cache policy.

An index is built in a temporary directory and renamed into place (atomic on one file system),
under a name made of a hash of the content paths (its *lineage*) and a hash of the content
bytes plus the code version (its *key*), so a content change builds a new index and broken
content never touches the last good one. ``IndexCache.load`` decides everything: use the
index of this exact content when it is complete and intact, else compile and build; on broken
content fall back to the newest good index of the same paths (with a warning); when the cache
cannot be written (read-only, full disk) build in memory instead.

The stamp file, written last, holds the key and a hash of every other file: reading a small
index costs about a millisecond and catches damage that would otherwise surface (or not) in the
middle of a query.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from kb.bm25 import TextIndex
from kb.errors import ContentError, IndexStateError
from kb.files import markdown_files
from kb.model import Entry, trusted_entry

INDEX_FORMAT = "5"
ENTRIES_FILE = "entries.json"
POSTINGS_FILE = "postings.bin"
STAMP_FILE = "kb-complete"
MARSHAL_VERSION = 4  # readable by every Python 3 since 3.4
STALE_TMP_SECONDS = 3600


def default_root() -> Path:
    """The per-user cache directory of kb (platformdirs: XDG_CACHE_HOME, ~/Library/Caches ...)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kb", appauthor=False))


@cache
def code_version() -> str:
    """The package version plus a hash of every module of the package, so that any change of
    code (compiler, analysis, scorer, model ...) builds new indexes; no list to keep in step."""
    from kb import __version__

    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(here.rglob("*.py")):
        digest.update(str(path.relative_to(here)).encode() + b"\0" + path.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:8]}"


def content_key(files: Sequence[Path], version: str) -> str:
    """A hash of the content bytes, their names and the code version."""
    digest = hashlib.sha256(f"{version}\0{INDEX_FORMAT}".encode())
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
class Loaded:
    """What ``IndexCache.load`` found or built: entries, their text index, warnings."""

    entries: list[Entry]
    text: TextIndex
    warnings: list[str] = field(default_factory=list)


Compile = Callable[[Sequence[Path]], list[Entry]]
BuildInMemory = Callable[[Sequence[Entry]], TextIndex]
Export = Callable[[Sequence[Entry], Path], dict[str, Any]]


@dataclass
class IndexCache:
    """Indexes of content collections under ``root``."""

    root: Path

    def load(self, paths: Sequence[Path], *, compile_paths: Compile, export: Export,
             in_memory: BuildInMemory, rebuild: bool = False, strict: bool = False) -> Loaded:
        """The index of the content under ``paths``: cached, rebuilt, last good, or in memory.

        Broken content raises ContentError, unless an index built from earlier content of the
        same paths exists and ``strict`` is false: then that one is used and the warnings say
        so. A cache that cannot be read or written falls back to an in-memory index.
        """
        lineage = paths_key(paths)
        key = content_key(markdown_files(paths), code_version())
        final = self.directory(lineage, key)
        if not rebuild and is_complete(final):
            loaded = self._open(final)
            if loaded is not None:
                return loaded
        try:
            entries = compile_paths(paths)
        except ContentError as exc:
            previous = None if strict else self.last_good(lineage)
            fallback = self._open(previous) if previous is not None else None
            if fallback is None:
                raise
            more = f" (+{len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
            fallback.warnings.append(f"{exc.problems[0]}{more}; using the last good index")
            return fallback
        try:
            path = self.build(entries, lineage, key, export, force=rebuild)
            text, _ = open_index(path)
        except (OSError, IndexStateError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            warning = f"index cache not usable ({reason}); using an in-memory index"
            return Loaded(entries, in_memory(entries), [warning])
        return Loaded(entries, text)

    def directory(self, lineage: str, key: str) -> Path:
        """The directory of the index with this lineage and content key."""
        return self.root / f"idx-{lineage}-{key}"

    def build(self, entries: Sequence[Entry], lineage: str, key: str, export: Export,
              force: bool = False) -> Path:
        """Build into a temporary directory, then rename it into place; prune older builds."""
        final = self.directory(lineage, key)
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"tmp-{lineage}-", dir=self.root))
        try:
            postings = marshal.dumps(export(entries, tmp), MARSHAL_VERSION)
            (tmp / POSTINGS_FILE).write_bytes(postings)
            payload = json.dumps([e.model_dump(mode="json") for e in entries])
            (tmp / ENTRIES_FILE).write_text(payload, encoding="utf-8")
            (tmp / STAMP_FILE).write_text(f"{key}\n{_digest(_files(tmp))}\n", encoding="utf-8")
            _replace_dir(tmp, final, force)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        self._prune(lineage, keep=final)
        return final

    def last_good(self, lineage: str) -> Path | None:
        """The newest complete index of this lineage, if any (used when content is broken)."""
        if not self.root.is_dir():
            return None
        found = []
        for path in self.root.glob(f"idx-{lineage}-*"):
            try:
                found.append((path.stat().st_mtime, path))
            except OSError:  # pruned by another process since the glob
                continue
        complete = [item for item in found if is_complete(item[1])]
        return max(complete)[1] if complete else None

    def _open(self, path: Path) -> Loaded | None:
        try:
            text, raw = open_index(path)
            entries = [trusted_entry(item) for item in raw]
        except (IndexStateError, ValueError, OSError):
            shutil.rmtree(path, ignore_errors=True)
            return None
        return Loaded(entries, text)

    def _prune(self, lineage: str, keep: Path) -> None:
        """Remove older indexes of the same lineage and temporary leftovers over an hour old."""
        now = time.time()
        for path in self.root.glob(f"*-{lineage}-*"):
            try:
                stale = (path.name.startswith("tmp-")
                         and now - path.stat().st_mtime > STALE_TMP_SECONDS)
            except OSError:  # another process's build, renamed or removed since the glob
                continue
            if path != keep and (path.name.startswith("idx-") or stale):
                shutil.rmtree(path, ignore_errors=True)


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


def is_complete(path: Path) -> bool:
    """True when ``path`` holds a finished build."""
    return (path / STAMP_FILE).is_file() and (path / ENTRIES_FILE).is_file()


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


def open_index(path: Path) -> tuple[TextIndex, list[dict[str, Any]]]:
    """Open a built index and its entries (as JSON data); IndexStateError when damaged."""
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
        # Our own file in the user's cache, and its bytes matched the stamp's hash just above.
        postings = marshal.loads(files[POSTINGS_FILE])  # noqa: S302
        text = TextIndex(postings, str(path))
        if not isinstance(raw, list) or text.ids != [item["id"] for item in raw]:
            raise IndexStateError(f"{path}: index and entries disagree")
    except IndexStateError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage in the files
        raise IndexStateError(f"{path}: damaged index ({type(exc).__name__}: {exc})") from exc
    return text, raw
