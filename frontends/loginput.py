"""Log inputs for ``kb diagnose`` that only a command line has: stdin, and following a file like
``tail -F``. Files themselves are read by kb.logfiles (compression, binary check).

Following starts at the end of the file (``--from-start`` reads what is there first), waits
for a file that does not exist yet, and before every read compares the file's inode and size
with what it has read: a rotated or replaced file is read to its end before the new one is
opened, and a truncated one (``copytruncate``) is read again from the start.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from kb import LOG_BLOCK as BLOCK
from kb import LogInputError as InputError
from kb import check_log_text as check_text
from kb import log_blocks as read_blocks
from kb import open_log
from kb import stream_blocks as stdin_blocks

POLL = 0.25  # seconds between looks at a followed file
__all__ = ["BLOCK", "Follower", "InputError", "check_text", "is_regular", "open_log",
           "read_blocks", "stdin_blocks"]


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
