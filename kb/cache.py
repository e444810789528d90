"""The on-disk index cache: the one owner of cache policy.

An index is built in a temporary directory and renamed into place (atomic on one file system),
under a name made of a hash of the content paths (its *lineage*) and a hash of the content
bytes plus the code version (its *key*), so a content change builds a new index and broken
content never touches the last good one. ``IndexCache.load`` decides everything: use the
index of this exact content when it is complete and intact, else compile and build; on broken
content fall back to the newest good index of the same paths (with a warning); when the cache
cannot be written (read-only, full disk) build in memory instead.

An index is three files -- ``index.bin`` (ids, where each entry's record starts, the text
index's dictionary and field lengths, the signal table), ``postings.bin`` (every posting list)
and ``entries.bin`` (one compressed JSON record per entry) -- and the stamp, written last,
which holds the key and the size and SHA-256 of every other file. Entries and posting lists
are read from memory maps when first used, so opening costs little more than the dictionary,
whatever the number of entries.

What is trusted without reading it, git-style: a file whose inode, size, mtime and ctime are
those recorded when its bytes were last hashed. Any write, truncation or replacement of a
cache file changes them, so damaged and foreign files are still found before use (their hash
is checked, and a mismatch rebuilds); only changes that keep all four -- bit rot under the
file system -- go unseen, as they would for Python's own bytecode cache. Content files are
trusted the same way (the key needs their bytes only when their stats changed), except those
changed within ``RACY_NS`` before they were recorded: those are hashed until they settle.

What is never trusted (issue 18): a cache directory that is not the user's own or that others
may write to (another local user could plant an index; refused like ssh refuses a loose key
file, with one warning, and the index kept in memory); a cache file that is not a regular file
(a FIFO would block, a link to /dev/zero would fill the memory), or a stamp over
``MAX_STAMP_BYTES``. The cache is created 0700 and its files 0600. An index directory that
cannot be read is rebuilt beside, or replaced. Content that changed while it was compiled is
compiled again, so an index is never stored under the key of bytes it was not built from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import marshal
import mmap
import os
import stat
import time
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kb.bm25 import TextIndex
from kb.errors import ContentError, IndexStateError
from kb.files import markdown_files
from kb.records import EntryStore, decode_record, encode_record

if TYPE_CHECKING:
    from kb.model import Entry

    Compile = Callable[[Sequence[Path]], list[Entry]]
    # Index entries: write the posting lists to the stream, return the text index's numbers
    # (``text``) and any other tables to keep (all plain data).
    Index = Callable[[Sequence[Entry], Any], dict[str, Any]]

INDEX_FORMAT = "7"
CORE_FILE = "index.bin"
POSTINGS_FILE = "postings.bin"
ENTRIES_FILE = "entries.bin"
STAMP_FILE = "kb-complete"
FILES = (CORE_FILE, POSTINGS_FILE, ENTRIES_FILE)
MARSHAL_VERSION = 4  # readable by every Python 3 since 3.4
STALE_TMP_SECONDS = 3600
RACY_NS = 2_000_000_000  # a content file changed this recently may change again unseen
Stat = list[int]  # inode, size, mtime_ns, ctime_ns
MAX_STAMP_BYTES = 64 << 20  # a stamp lists each content file: 100,000 files fit
BUILD_TRIES = 3  # content rewritten while it was compiled: compile again, this many times


def default_root() -> Path:
    """The per-user cache directory of kb (platformdirs: XDG_CACHE_HOME, ~/Library/Caches ...)."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("kb", appauthor=False))


def unsafe_root(root: Path) -> str | None:
    """Why the cache directory must not be used, or None: not the user's own, or writable by
    group or others (F17: another local user could plant an index that kb would trust). A
    directory that is not there yet is made 0700 when first written."""
    if os.name != "posix":
        return None
    try:
        info = os.stat(root)
    except OSError:
        return None  # not there (made later), or not a folder: the build says why
    if not stat.S_ISDIR(info.st_mode):
        return None
    if info.st_uid != os.geteuid():
        why = f"owned by uid {info.st_uid}, not by you (uid {os.geteuid()})"
    elif info.st_mode & 0o022:
        why = f"writable by others (mode {stat.S_IMODE(info.st_mode):o}): chmod 700 it"
    else:
        return None
    return (f"cache directory {root} not used: {why}, or set KB_CACHE_DIR to a directory of "
            "your own; using an in-memory index")


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
        try:
            digest.update(path.read_bytes())
        except OSError as exc:  # the compiler says so, file:0 (F19): a key of no index
            digest.update(f"\0cannot read: {exc.errno}".encode())
        digest.update(b"\0")
    return digest.hexdigest()[:20]


def paths_key(paths: Iterable[Path]) -> str:
    """A hash naming a set of content paths (one lineage of indexes in the cache)."""
    joined = "\0".join(sorted(str(Path(p).resolve()) for p in paths))
    return hashlib.sha256(joined.encode()).hexdigest()[:12]


@dataclass
class Loaded:
    """What ``IndexCache.load`` found or built: entries, their text index, the other tables
    the build made (``tables``: the signal table), warnings."""

    entries: EntryStore
    text: TextIndex
    tables: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


@dataclass
class IndexCache:
    """Indexes of content collections under ``root``."""

    root: Path
    _refused: bool = field(default=False, init=False)  # the unsafe-root warning was given

    def load(self, paths: Sequence[Path], *, compile_paths: Compile, index: Index,
             rebuild: bool = False, strict: bool = False) -> Loaded:
        """The index of the content under ``paths``: cached, rebuilt, last good, or in memory.

        Broken content raises ContentError, unless an index built from earlier content of the
        same paths exists and ``strict`` is false: then that one is used and the warnings say
        so. A cache that cannot be read or written falls back to an in-memory index.
        """
        lineage = paths_key(paths)
        files = markdown_files(paths)
        unsafe = unsafe_root(self.root)
        if unsafe is not None:
            told, self._refused = self._refused, True
            return in_memory(compile_paths(paths), index, [] if told else [unsafe])
        version = code_version()
        sources = _sources(files)
        if not rebuild:
            for found in self._unchanged(lineage, version, sources):
                loaded = self._open(found)
                if loaded is not None:
                    return loaded
        key = content_key(files, version)
        final = self.directory(lineage, key)
        if not rebuild and is_complete(final):
            # Found by hashing: record the files' stats, so the next open need not hash
            # them, unless they are too fresh to be trusted yet anyway.
            settled = _settled(sources, sources)
            loaded = self._open(final, sources={"version": version, "files": sources}
                                if settled else None)
            if loaded is not None:
                return loaded
        try:
            entries, key, sources = _compile(compile_paths, paths, files, version, key,
                                             sources)
        except ContentError as exc:
            previous = None if strict else self.last_good(lineage)
            fallback = self._open(previous) if previous is not None else None
            if fallback is None:
                raise
            more = f" (+{len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
            fallback.warnings.append(f"{exc.problems[0]}{more}; using the last good index")
            return fallback
        try:
            path = self.build(entries, lineage, key, index, force=rebuild,
                              sources={"version": version, "files": sources})
            loaded = self._open(path, remove_damaged=False)
            if loaded is None:
                raise IndexStateError(f"{path}: the index just built does not open")
        except (OSError, IndexStateError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            warning = f"index cache not usable ({reason}); using an in-memory index"
            return in_memory(entries, index, [warning])
        return loaded

    def directory(self, lineage: str, key: str) -> Path:
        """The directory of the index with this lineage and content key."""
        return self.root / f"idx-{lineage}-{key}"

    def build(self, entries: Sequence[Entry], lineage: str, key: str, index: Index,
              force: bool = False, sources: dict[str, Any] | None = None) -> Path:
        """Build into a temporary directory, then rename it into place; prune older builds.

        Streams: posting lists and entry records go to their files as they are made, so the
        build holds no second copy of the collection.
        """
        final = self.directory(lineage, key)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        unsafe = unsafe_root(self.root)  # (made by someone else since the check in load)
        if unsafe is not None:
            raise IndexStateError(unsafe)
        import tempfile  # (only to build: a warm start never needs it)

        tmp = Path(tempfile.mkdtemp(prefix=f"tmp-{lineage}-", dir=self.root))
        try:
            written: dict[str, list[Any]] = {}
            with _HashingFile(tmp / POSTINGS_FILE) as out:
                tables = index(entries, out)
            written[POSTINGS_FILE] = out.summary()
            offsets = array("Q", [0])
            with _HashingFile(tmp / ENTRIES_FILE) as out:
                for entry in entries:
                    out.write(encode_record(entry.model_dump(mode="json")))
                    offsets.append(out.size)
            written[ENTRIES_FILE] = out.summary()
            core = {"ids": [e.id for e in entries], "offsets": offsets.tobytes(),
                    "collections": sorted({e.collection for e in entries if e.collection}),
                    "tables": tables}
            with _HashingFile(tmp / CORE_FILE) as out:
                out.write(marshal.dumps(core, MARSHAL_VERSION))
            written[CORE_FILE] = out.summary()
            # The stats are taken in this build's own folder, which nothing else writes: they
            # can be trusted at once (see the module docstring).
            seen = {name: _stat(tmp / name) for name in FILES}
            _write_stamp(tmp / STAMP_FILE, {"format": INDEX_FORMAT, "key": key, "files": written,
                               "seen": seen, "sources": sources or {}})
            _replace_dir(tmp, final, force)
        finally:
            if tmp.exists():
                _remove(tmp)
        self._prune(lineage, keep=final)
        return final

    def last_good(self, lineage: str) -> Path | None:
        """The newest complete index of this lineage, if any (used when content is broken)."""
        found = self._lineage(lineage)
        return found[0] if found else None

    def _lineage(self, lineage: str) -> list[Path]:
        """The complete indexes of a lineage, newest first."""
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.glob(f"idx-{lineage}-*"):
            try:
                found.append((path.stat().st_mtime, path))
            except OSError:  # pruned by another process since the glob
                continue
        return [path for _, path in sorted(found, reverse=True) if is_complete(path)]

    def _unchanged(self, lineage: str, version: str, sources: list[list[Any]]) -> list[Path]:
        """Indexes of this lineage built by this code from content files whose stats are
        unchanged (and settled): their key needs no hashing of the content."""
        out = []
        for path in self._lineage(lineage):
            recorded = _read_stamp(path)
            if recorded is None:
                continue
            built = recorded.get("sources", {})
            if built.get("version") == version and _settled(built.get("files"), sources):
                out.append(path)
        return out

    def _open(self, path: Path, sources: dict[str, Any] | None = None,
              remove_damaged: bool = True) -> Loaded | None:
        try:
            return open_index(path, sources)
        except (IndexStateError, ValueError, OSError):
            if remove_damaged:
                _remove(path)
            return None

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
                _remove(path)


def _compile(compile_paths: Compile, paths: Sequence[Path], files: list[Path], version: str,
             key: str, sources: list[list[Any]]) -> tuple[list[Entry], str, list[list[Any]]]:
    """Compile; the key and stats of the bytes that were compiled: when a file changed
    while it was compiled (F18), its new bytes were read, so compile again under the new
    key (ContentError if it keeps changing)."""
    for _ in range(BUILD_TRIES):
        entries = compile_paths(paths)
        after = content_key(files, version)
        if after == key:
            return entries, key, sources
        sources, key = _sources(files), after
    raise ContentError([f"{files[0] if files else paths[0]}:0: content kept changing "
                        "while it was compiled: try again when it is written"])


def in_memory(entries: Sequence[Entry], index: Index, warnings: Sequence[str] = ()) -> Loaded:
    """An index that lives in memory only (when the cache cannot be used)."""
    import io

    out = io.BytesIO()
    tables = index(entries, out)
    text = TextIndex(tables.pop("text"), "memory", out.getvalue())
    return Loaded(EntryStore.of(entries), text, tables, list(warnings))


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
        _remove(aside)
        os.rename(tmp, final)


def _remove(path: Path) -> None:
    """Remove a directory tree, as far as possible (shutil is imported only when needed)."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def is_complete(path: Path) -> bool:
    """True when ``path`` holds a finished build (False when it cannot be looked into: an
    index directory left by ``sudo kb``, F16)."""
    try:
        return (path / STAMP_FILE).is_file() and (path / CORE_FILE).is_file()
    except OSError:
        return False


# -- opening -----------------------------------------------------------------------------------


def open_index(path: Path, sources: dict[str, Any] | None = None) -> Loaded:
    """Open a built index; IndexStateError when damaged. ``sources`` (the content files'
    stats, when the caller hashed them to find this index) are recorded in the stamp, so the
    next open need not hash them."""
    stamp = _read_stamp(path)
    if stamp is None or stamp.get("format") != INDEX_FORMAT:
        raise IndexStateError(f"{path}: no valid build stamp")
    seen = dict(stamp.get("seen", {}))
    changed = sources is not None and sources != stamp.get("sources")
    maps = {}
    for name in FILES:
        file_path = path / name
        now, maps[name] = _checked_map(file_path, stamp["files"].get(name), seen.get(name))
        if now != seen.get(name):
            seen[name], changed = now, True
    try:
        # Our own file in the user's cache, and it matches the stamp (its hash, or stats
        # unchanged since its hash was checked).
        core = marshal.loads(maps[CORE_FILE])  # noqa: S302
        ids = core["ids"]
        text = TextIndex(core["tables"].pop("text"), str(path), maps[POSTINGS_FILE])
        offsets = array("Q")
        offsets.frombytes(core["offsets"])
        if text.ids != ids or len(offsets) != len(ids) + 1 or (
                offsets[-1] != len(maps[ENTRIES_FILE])):
            raise IndexStateError(f"{path}: index and entries disagree")
        store = EntryStore(ids, _Records(maps[ENTRIES_FILE], offsets), core["collections"])
    except IndexStateError:
        raise
    except Exception as exc:  # noqa: BLE001 - any damage in the files
        raise IndexStateError(f"{path}: damaged index ({type(exc).__name__}: {exc})") from exc
    if changed:
        _refresh_stamp(path, stamp, seen, sources)
    return Loaded(store, text, core["tables"])


def _checked_map(path: Path, expected: list[Any] | None, seen: Stat | None) -> tuple[Stat, Any]:
    """The stats and bytes (a memory map) of a cache file that matches the stamp;
    IndexStateError when it does not, or is not a regular file (a FIFO, a device, a link)."""
    try:
        descriptor = _open_regular(path)
    except OSError as exc:
        raise IndexStateError(f"{path}: unreadable index file ({exc.strerror or exc})") from exc
    try:
        info = os.fstat(descriptor)
        now = [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
        if expected is None or now[1] != expected[0]:
            raise IndexStateError(f"{path}: index files do not match their build stamp")
        with open(descriptor, "rb", closefd=False) as handle:  # noqa: PTH123 - an fd
            if now != seen:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
                if digest != expected[1]:
                    raise IndexStateError(f"{path}: index files do not match their build "
                                          "stamp")
            data = b"" if now[1] == 0 else mmap.mmap(descriptor, 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise IndexStateError(f"{path}: unreadable index file ({exc.strerror})") from exc
    finally:
        os.close(descriptor)
    return now, data


def _open_regular(path: Path) -> int:
    """A read-only descriptor of ``path`` if it is a regular file (not followed when it is a
    link; a FIFO is opened without blocking, then refused); OSError otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    descriptor = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise OSError(0, "not a regular file", str(path))
    return descriptor


class _Records:
    """Reads one entry's record from the entries file (``EntryStore``'s reader)."""

    def __init__(self, data: Any, offsets: array[int]) -> None:
        self._data = data
        self._offsets = offsets

    def __call__(self, position: int) -> dict[str, Any]:
        try:
            start, end = self._offsets[position], self._offsets[position + 1]
            return decode_record(self._data[start:end])
        except (ValueError, UnicodeDecodeError, IndexError) as exc:
            raise IndexStateError(f"damaged entry record {position} in the index cache "
                                  f"({exc}): run 'kb build'") from exc

    def __getstate__(self) -> dict[str, Any]:
        return {"_data": bytes(self._data), "_offsets": self._offsets}


# -- the stamp ---------------------------------------------------------------------------------


def _stat(path: Path) -> Stat:
    info = os.stat(path)
    return [info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _sources(files: Sequence[Path]) -> list[list[Any]]:
    """Each content file with its stats, and when they were taken."""
    now = time.time_ns()
    out = []
    for path in files:
        try:
            out.append([str(path), *_stat(path), now])
        except OSError:  # gone since it was listed: a record that never matches
            out.append([str(path), -1, -1, -1, -1, now])
    return out


def _settled(recorded: Any, current: list[list[Any]]) -> bool:
    """True when the content files are those recorded, with the same stats, none of them
    changed within RACY_NS before it was recorded (it might have changed again unseen)."""
    if not isinstance(recorded, list) or len(recorded) != len(current):
        return False
    for old, new in zip(recorded, current, strict=True):
        if old[:5] != new[:5] or old[4] > old[5] - RACY_NS:
            return False
    return True


class _HashingFile:
    """A file being written, with the size and SHA-256 of what went into it."""

    def __init__(self, path: Path) -> None:
        self._handle: IO[bytes] = os.fdopen(_create_private(path), "wb")
        self._digest = hashlib.sha256()
        self.size = 0

    def __enter__(self) -> _HashingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += len(data)
        return self._handle.write(data)

    def summary(self) -> list[Any]:
        return [self.size, self._digest.hexdigest()]


def _write_stamp(target: Path, body: dict[str, Any]) -> None:
    """The stamp: its JSON body, then a hash of it (so a damaged stamp is no stamp)."""
    text = json.dumps(body, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    with os.fdopen(_create_private(target), "w", encoding="utf-8") as out:
        out.write(f"{text}\n{digest}\n")


def _create_private(path: Path) -> int:
    """A new file of the cache, 0600 (a link in its place is not followed)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    return os.open(path, flags | getattr(os, "O_CLOEXEC", 0), 0o600)


def _read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        descriptor = _open_regular(folder / STAMP_FILE)
        with open(descriptor, "rb") as handle:  # noqa: PTH123 - an fd
            raw = handle.read(MAX_STAMP_BYTES + 1)
        if len(raw) > MAX_STAMP_BYTES:
            return None
        text, digest = raw.decode("utf-8").rstrip("\n").split("\n")
        if hashlib.sha256(text.encode()).hexdigest() != digest:
            return None
        body = json.loads(text)
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def _refresh_stamp(path: Path, stamp: dict[str, Any], seen: dict[str, Stat],
                   sources: dict[str, Any] | None) -> None:
    """Record what was just checked, so the next open need not check it again (atomic
    replace; a cache that cannot be written is simply checked again next time)."""
    body = dict(stamp, seen=seen)
    if sources is not None:
        body["sources"] = sources
    tmp = path / f".{STAMP_FILE}.{os.getpid()}"
    try:
        _write_stamp(tmp, body)
        os.replace(tmp, path / STAMP_FILE)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
