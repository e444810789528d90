"""Reading log files: plain, gzip, xz, bzip2 or zstd (by their magic bytes, never the name), in
blocks, with a clear error for binary or damaged input. Used by the log pipe (kb diagnose),
the fleet runner (kb.fleet) and the Dask map step (kb.dask).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from kb.errors import LogInputError as InputError

BLOCK = 1 << 20
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
_TEXT = b"\t\n\r\f\b\x1b"  # the control characters a text log may hold


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
    """Blocks of a stream as they come (a pipe's data is handed over without waiting for
    more), decompressed when its first bytes say so."""
    head = stream.peek(8)[:8] if hasattr(stream, "peek") else b""
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), "")
    yield from read_blocks(_decompressing(stream, kind, Path("stdin")) if kind else stream,
                           "stdin")


# What log rotation appends to a file's name: logrotate's ".1" and "-20240305" (dateext),
# cronolog's and rotatelogs' dates and epoch seconds, then a compressor's suffix.
_ROTATED = re.compile(
    r"(?:[.-](?:\d{1,4}|\d{8}(?:-\d{1,10})?|\d{4}-\d{2}-\d{2}(?:[-_T]\d{2}(?:[-:]?\d{2}){0,2})?"
    r"|\d{10}))?(?:\.(?:gz|xz|bz2|zst|zstd|z))?$", re.IGNORECASE)


def host_of(source: str) -> str:
    """The server a log file is from, by its name: the file without what rotation added
    (``logs/web01/error.log.2.gz`` and ``logs/web01/error.log`` are one server; a name
    without "log" in it is left as it is). Lines with a
    host of their own (syslog, journald) are counted under that one instead (kb.diagnose)."""
    folder, _, name = source.rpartition("/")
    stem = _ROTATED.sub("", name)
    if "log" not in stem.lower():  # "web-2", "10.0.0.5": a name, not a rotated log file
        stem = name
    return f"{folder}/{stem}" if folder else stem


def is_compressed(path: Path) -> bool:
    """True when the file starts with the magic bytes of a compression kb reads."""
    with path.open("rb") as handle:
        head = handle.read(8)
    return any(head.startswith(magic) for magic, _ in _MAGIC)
