"""The terminal's streams, read and written so that no input can crash kb or exhaust memory.

- Input is read in bounded pieces and decoded leniently: a query is read up to
  ``MAX_QUERY_CHARS`` (what kb searches; the rest is never read), a shell line up to the same
  and the rest of it skipped, and bytes that are not UTF-8 become U+FFFD whatever the locale
  (a strict one would raise, a C/POSIX one would hand back lone surrogates that write the raw
  byte out again).
- Text from the command line (argv holds such surrogates in every locale) is decoded the same
  way by ``from_argv``.
- A closed stdin, stdout or stderr (``<&-``, ``>&-``) is a ``ClosedStream``: reading or
  writing it is an ``OSError`` naming it, which the CLI's error funnel prints; a closed
  stderr swallows what is written to it (there is nowhere to say anything).
"""

from __future__ import annotations

import contextlib
import errno
import io
import re
import sys

# Not typing.TYPE_CHECKING: the CLI's Env imports this module for `kb --version` too.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

SKIP_PIECE = 1 << 16
_SURROGATE = re.compile("[\ud800-\udfff]")


def from_argv(text: str) -> str:
    """Command-line text with the bytes that were not UTF-8 as U+FFFD (Python hands them over
    as lone surrogates: writing those back writes the raw byte, or fails)."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def binary(stream: IO[str], given: IO[bytes] | None = None) -> IO[bytes] | None:
    """The byte stream under a text stream (``sys.stdin.buffer``), if it has one."""
    if given is not None:
        return given
    return getattr(stream, "buffer", None)


def _query_limit() -> int:
    from kb import MAX_QUERY_CHARS  # (kb.rank: imported by the search that follows anyway)

    return MAX_QUERY_CHARS


def read_query(stream: IO[str], raw: IO[bytes] | None = None, limit: int | None = None) -> str:
    """At most ``limit`` characters of a stream (default: what kb searches of a query),
    leniently decoded; never reads further (``kb search - < /dev/zero`` reads 400 KB: UTF-8
    needs at most four bytes a character)."""
    limit = limit or _query_limit()
    if raw is None:
        return from_argv(stream.read(limit))
    data = bytearray()
    budget = 4 * limit + 4
    while len(data) < budget:
        piece = raw.read(budget - len(data))
        if not piece:
            break
        data += piece
    return bytes(data).decode("utf-8", "replace")[:limit]


def read_line(stream: IO[str], raw: IO[bytes] | None = None, limit: int | None = None) -> str:
    """One line of at most ``limit`` characters (default: a query's), leniently decoded, with
    its newline; the rest of a longer line is read and dropped piece by piece. '' at the end
    of input."""
    limit = limit or _query_limit()
    if raw is None:
        line = stream.readline(limit)
        if line and not line.endswith("\n") and len(line) == limit:
            while (rest := stream.readline(SKIP_PIECE)) and not rest.endswith("\n"):
                pass
            line += "\n"
        return from_argv(line)
    data = raw.readline(4 * limit + 4)
    if data and not data.endswith(b"\n") and len(data) == 4 * limit + 4:
        while (piece := raw.readline(SKIP_PIECE)) and not piece.endswith(b"\n"):
            pass
        data += b"\n"
    text = data.decode("utf-8", "replace")
    return text if len(text) <= limit + 1 else text[:limit] + "\n"


class ClosedStream(io.TextIOBase):
    """A standard stream that was closed when kb started (``>&-``): every read or write is an
    OSError that names it, unless ``quiet`` (stderr: writes are dropped)."""

    def __init__(self, name: str, *, quiet: bool = False) -> None:
        super().__init__()
        self.name = name
        self._quiet = quiet

    def _closed(self) -> OSError:
        return OSError(errno.EBADF, f"{self.name} is closed")

    def read(self, size: int | None = -1) -> str:
        raise self._closed()

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        raise self._closed()

    def write(self, text: str) -> int:
        if self._quiet:
            return len(text)
        raise self._closed()

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise self._closed()


def standard(name: str) -> Any:
    """``sys.stdin``/``stdout``/``stderr``, or a ClosedStream when it was closed. Output
    streams write what their encoding cannot hold as backslash escapes, never failing."""
    stream = getattr(sys, name)
    if stream is None:
        return ClosedStream(name, quiet=name == "stderr")
    if name != "stdin" and isinstance(stream, io.TextIOWrapper):
        with contextlib.suppress(AttributeError, ValueError, io.UnsupportedOperation):
            stream.reconfigure(errors="backslashreplace")
    return stream
