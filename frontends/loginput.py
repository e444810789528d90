"""Log inputs for ``kb diagnose``: files (plain, gzip, xz, bzip2, zstd), stdin, and following a
file like ``tail -F``.

Compression is recognised by its magic bytes, never by the name. A file that looks binary
(NUL bytes or mostly non-text in its first block, after decompression) is refused with a
clear error rather than read as text. Following starts at the end of the file (``--from-start``
reads what is there first), waits for a file that does not exist yet, and on every poll
compares the file's inode and size with what it has read: a rotated or replaced file is read
to its end before the new one is opened, and a truncated one (``copytruncate``) is read again
from the start, so no line is lost or read twice.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import stat
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

BLOCK = 1 << 20
POLL = 0.25  # seconds between looks at a followed file
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_TEXT = b"\t\n\r\f\b\x1b"  # the control characters a text log may hold


class InputError(Exception):
    """A log input that cannot be read: missing, unreadable, binary or damaged (exit 2)."""


def open_log(path: Path) -> IO[bytes]:
    """``path`` opened for reading bytes, decompressed when its magic bytes say so."""
    try:
        handle: IO[bytes] = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from None
    if path.is_dir():
        handle.close()
        raise InputError(f"{path}: is a directory")
    head = handle.peek(8)[:8] if hasattr(handle, "peek") else b""
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), "")
    if not kind:
        return handle
    return _decompressing(handle, kind, path)


def _decompressing(handle: IO[bytes], kind: str, path: Path) -> IO[bytes]:
    if kind == "gzip":
        return gzip.GzipFile(fileobj=handle)  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(handle)  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(handle)  # type: ignore[return-value]
    try:
        import zstandard
    except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
        handle.close()
        raise InputError(f"{path}: zstd data, but the zstandard package is missing: "
                         "pip install zstandard") from None
    return zstandard.ZstdDecompressor().stream_reader(handle)  # type: ignore[no-any-return]


def read_blocks(handle: IO[bytes], name: str) -> Iterator[bytes]:
    """Blocks of ``handle`` to its end; InputError for damaged compressed data, a read error
    or a binary file (checked on the first block)."""
    compressed = not isinstance(handle, (io.BufferedReader, io.FileIO))
    reader: Callable[[int], bytes] = getattr(handle, "read1", handle.read)
    first = True
    while True:
        try:
            chunk = reader(BLOCK)
        except (EOFError, OSError, zlib.error, lzma.LZMAError, ValueError) as exc:
            if compressed:
                raise InputError(f"{name}: damaged compressed data ({exc}); lines before "
                                 "the damage were diagnosed") from None
            raise InputError(f"{name}: {getattr(exc, 'strerror', None) or exc}") from None
        if not chunk:
            return
        if first:
            check_text(chunk, name)
            first = False
        yield chunk


def check_text(data: bytes, name: str) -> None:
    """InputError when ``data`` (the start of an input) is not text: more than one byte in
    twenty a control character that no log holds (a stray NUL or escape is fine)."""
    sample = data[:8192]
    if not sample:
        return
    controls = sum(1 for byte in sample if byte < 0x20 and byte not in _TEXT or byte == 0x7F)
    if controls * 20 > len(sample):
        raise InputError(f"{name}: binary data, not a log")


def stdin_blocks(stream: IO[bytes]) -> Iterator[bytes]:
    """Blocks of stdin as they come (a pipe's data is handed over without waiting for more),
    decompressed when its first bytes say so (``zcat``-free ``kb diagnose < error.log.gz``)."""
    head = stream.peek(8)[:8] if hasattr(stream, "peek") else b""
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), "")
    yield from read_blocks(_decompressing(stream, kind, Path("stdin")) if kind else stream,
                           "stdin")


def is_regular(stream: Any) -> bool:
    """True when ``stream`` is a regular file (stdin redirected from a file)."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return True  # an in-memory stream (tests): behave like a file


class Follower:
    """Follows one file like ``tail -F``: yields its new bytes, and b"" on each quiet poll.

    ``from_start`` reads what is already there first. ``wait`` (a callable taking seconds) and
    ``now`` make it testable without sleeping.
    """

    def __init__(self, path: Path, *, from_start: bool = False, notice: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = path
        self._from_start = from_start
        self._notice = notice
        self._sleep = sleep
        self._handle: IO[bytes] | None = None
        self._inode = -1

    def blocks(self) -> Iterator[bytes]:
        """New data as it comes; b"" after every poll with nothing new (a heartbeat)."""
        self._open_when_there(at_end=not self._from_start)
        while True:
            yield from self._check()
            chunk = self._read()
            if chunk:
                yield chunk
                continue
            yield b""
            self._sleep(POLL)

    def _open_when_there(self, *, at_end: bool) -> None:
        told = False
        while True:
            try:
                handle = self.path.open("rb")
            except FileNotFoundError:
                if not told:
                    self._notice(f"waiting for {self.path} to appear")
                    told = True
                self._sleep(POLL)
                continue
            except OSError as exc:
                raise InputError(f"{self.path}: {exc.strerror or exc}") from None
            break
        info = os.fstat(handle.fileno())
        if at_end:
            handle.seek(0, os.SEEK_END)
        self._handle, self._inode = handle, info.st_ino

    def _read(self) -> bytes:
        assert self._handle is not None  # noqa: S101 - opened in blocks() first
        return self._handle.read(BLOCK)

    def _check(self) -> Iterator[bytes]:
        """Rotation, replacement and truncation, checked before every read."""
        assert self._handle is not None  # noqa: S101
        try:
            info = self.path.stat()
        except FileNotFoundError:
            return  # rotated away; the new file is not there yet
        if info.st_ino != self._inode:
            while rest := self._handle.read(BLOCK):  # what was written before the rename
                yield rest
            self._handle.close()
            self._open_when_there(at_end=False)  # a new file: all of it is new
        elif info.st_size < self._handle.tell():
            self._handle.seek(0)  # truncated in place (copytruncate): start again

    def close(self) -> None:
        """Close the file being followed."""
        if self._handle is not None:
            self._handle.close()
