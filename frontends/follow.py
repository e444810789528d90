"""Following a log file like ``tail -F``, losing nothing across rotation and truncation.

On every poll the path's inode and size are compared with the file being read, and the bytes
just before the read position with those last read (a file truncated and written past that
position again has the same inode and a larger size):

- **renamed or replaced** (logrotate's default, ``create``, a symlink pointing elsewhere): the
  old file is read to its end, then kept open and read for ``DRAIN`` seconds more (a server
  writes to it until it reopens its log), while the new file is read from its start;
- **truncated in place** (``copytruncate``): what was written after the last read and before
  the truncation is read from the copy (a sibling file, ``error.log.1`` or a dated one, that
  holds the bytes last read at the same offset), then the file from its start;
- **deleted**: the open file is read on until a new one takes the name.

Lines of one file are never glued to another's: a last line without a newline is ended where
the input switches files. While data flows the file is polled every ``FAST`` seconds, when
quiet every ``IDLE`` (a rotation every 0.2 s loses nothing, from the first line written to a
quiet file on); a heartbeat (b"") is yielded each ``POLL`` of quiet (the log pipe ends its open
episodes then).

A reader that falls behind its writer (a burst, a slow consumer of the yielded data) while
rotations go on:

- the new file of a rename is opened when the rename is seen, before the old file's backlog
  is read (opened after, it could be a later file, and the one between never read);
- after a copytruncate, the start of the truncated file is read before the rest of the copy,
  and the file is looked at again before more is read (read after, the file could have been
  truncated again meanwhile, with nothing read from it yet to tell);
- rotated more than once between two looks (the consumer held a chunk meanwhile), the files
  between are the numbered copies (``error.log.1`` ... as logrotate names them) newer than
  the one that holds what was read (and older than a new file that was renamed too): each
  is opened at once (a later rotation moves the names), checked to be the file listed, and
  read whole, oldest first; a file read whole is never read again;
- a file that nothing was read from yet (empty at every look) has no bytes to find its copy
  by: a numbered copy it has not seen (one stat of ``error.log.1`` a look) was made of bytes
  written to it since, and is read whole once the file no longer starts as the copy does
  (logrotate copies, then truncates: until then the file itself is read; an empty copy may
  be one just begun). The same holds for the newest of the later copies of the second case.

With dated names (``dateext``) or a copy compressed at once there are no numbered copies to
tell, and what the last two cases cover is lost, as by ``tail -F``. Polls come every
``FAST``/``IDLE`` seconds unless the consumer holds a chunk longer. A path that is not a
regular file (a FIFO, ``/dev/stdin``, ``<(...)``), at the start or after a rotation, is read as
a stream to its end.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kb import LOG_BLOCK as BLOCK
from kb import LogInputError as InputError

POLL = 0.25  # seconds of quiet that make a heartbeat
IDLE = 0.05  # seconds between looks at a quiet file (a stat and a read: ~20 us each)
FAST = 0.01  # seconds between looks while data flows
BUSY = 1.0  # seconds after the last data during which the file counts as busy
DRAIN = 2.0  # seconds a rotated file is still read after it last grew
TAIL = 1024  # bytes before the read position compared on each poll (copytruncate)
COPIES = 16  # rotated siblings looked at for a copytruncate's copy


@dataclass
class _Source:
    """One open file: where it is read, the bytes last read, and when it last grew."""

    handle: IO[bytes]
    inode: tuple[int, int]
    position: int = 0
    tail: bytes = b""
    grew: float = 0.0
    partial: bytes = field(default=b"")  # a rotated file's unfinished last line
    regular: bool = True  # False: a FIFO or another stream (the path was replaced by one)
    # While nothing is read from it: the numbered copies (error.log.1 ...) there were when
    # it was opened or recovered (a copy not among them holds bytes written to it since).
    known: frozenset[tuple[int, int]] = frozenset()

    def read(self) -> bytes:
        data = self.handle.read(BLOCK)
        if data:
            self.position += len(data)
            self.tail = (self.tail + data)[-TAIL:]
        return data


class Follower:
    """Follows one path like ``tail -F``: yields its new bytes, and b"" after each ``POLL`` of
    quiet (a heartbeat).

    ``from_start`` reads what is already there first. ``sleep`` and ``clock`` make it
    testable without waiting.
    """

    def __init__(self, path: Path, *, from_start: bool = False, notice: Callable[[str], None],
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._from_start = from_start
        self._notice = notice
        self._sleep = sleep
        self._clock = clock
        self._current: _Source | None = None
        self._rotated: list[_Source] = []
        self._whole: deque[tuple[int, int]] = deque(maxlen=4 * COPIES)  # copies read whole
        self._ended = True  # the last byte yielded ends a line (or nothing was yielded)

    def blocks(self) -> Iterator[bytes]:
        """New data as it comes; b"" after each POLL seconds with nothing new."""
        source = self._open_when_there(at_end=not self._from_start)
        if not stat.S_ISREG(os.fstat(source.handle.fileno()).st_mode):
            yield from self._stream(source.handle)
            return
        last_data = last_beat = self._clock()
        while True:
            got = False
            for chunk in self._poll():
                got = True
                self._ended = chunk.endswith(b"\n")
                yield chunk
            if self._current is not None and not self._current.regular:
                yield from self._stream(self._current.handle)  # rotated to a FIFO: as at start
                return
            now = self._clock()
            if got:
                last_data = now
                continue
            if now - max(last_data, last_beat) >= POLL:
                last_beat = now
                yield b""
            self._sleep(FAST if now - last_data < BUSY else IDLE)

    def close(self) -> None:
        """Close every file being read."""
        for source in [self._current, *self._rotated]:
            if source is not None:
                source.handle.close()
        self._current, self._rotated = None, []

    # -- opening ------------------------------------------------------------------------------

    def _open_when_there(self, *, at_end: bool) -> _Source:
        told = False
        while (source := self._open(at_end=at_end)) is None:
            if not told:
                self._notice(f"waiting for {self.path} to appear")
                told = True
            self._sleep(POLL)
        self._current = source
        return source

    def _open(self, *, at_end: bool) -> _Source | None:
        """The file at the path now (None when there is none)."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise InputError(f"{self.path}: {exc.strerror or exc}") from None
        info = os.fstat(handle.fileno())
        source = _Source(handle, (info.st_dev, info.st_ino), grew=self._clock(),
                         regular=stat.S_ISREG(info.st_mode),
                         known=frozenset(node for _, node, _ in self._numbered()))
        if at_end and stat.S_ISREG(info.st_mode):
            source.position = handle.seek(0, os.SEEK_END)
            source.tail = _pread(handle, max(0, source.position - TAIL), TAIL)
        return source

    @staticmethod
    def _stream(handle: IO[bytes]) -> Iterator[bytes]:
        """A FIFO or another stream: its data as it comes, to its end."""
        reader = getattr(handle, "read1", handle.read)
        try:
            while chunk := reader(BLOCK):
                yield chunk
        finally:
            handle.close()

    # -- one poll -----------------------------------------------------------------------------

    def _poll(self) -> Iterator[bytes]:
        """What is new since the last poll, in an order that keeps lines whole."""
        current = self._current
        assert current is not None  # noqa: S101 - opened by blocks() first
        try:
            info = self.path.stat()
        except FileNotFoundError:
            info = None  # rotated away, the new file not there yet: read on the open one
        if info is not None and (info.st_dev, info.st_ino) != current.inode:
            yield from self._rotate(current, regular=stat.S_ISREG(info.st_mode))
            current = self._current
            assert current is not None  # noqa: S101
            if not current.regular:
                return  # a stream now: read by blocks() as one
        elif info is not None and self._truncated(current, info.st_size):
            yield from self._recover(current)
            return  # the next poll looks again first: truncated again while the copy was read?
        elif not current.position and self._new_copy(current):
            # Nothing read from it yet, and a copy it has not seen: written and truncated
            # between two looks (once the file no longer starts as the copy does: logrotate
            # copies first, then truncates). What the copies hold is unread.
            numbered = self._numbered()
            skip = self._seen()
            fresh = self._open_listed([(node, path) for _, node, path in reversed(numbered)
                                       if node not in current.known and node not in skip])
            if fresh and _starts_with(current.handle, fresh[-1].handle):
                for source in fresh:  # copied, not truncated yet: read from the file itself
                    source.handle.close()
            else:
                current.known = frozenset(node for _, node, _ in numbered)
                yield from self._read_whole(fresh, keep=False)
                return
        chunk = current.read()
        if chunk:
            current.grew = self._clock()
            yield chunk
        elif self._ended or not current.position:
            yield from self._drain_rotated()

    def _rotate(self, old: _Source, *, regular: bool) -> Iterator[bytes]:
        """The path is another file now: the old one to its end, then the new one. A regular
        new file is opened first (the path may name a later file by the time the old one is
        read); anything else (a FIFO, whose open waits for a writer) and a file that does not
        open (its error is raised once the old file is read) after."""
        new = None
        if regular:
            with contextlib.suppress(InputError):  # raised again below, after the backlog
                new = self._open(at_end=False)
        try:
            while chunk := old.read():
                yield chunk
                self._ended = chunk.endswith(b"\n")
            if not self._ended:
                yield b"\n"  # a last line without a newline is a line of its own
                self._ended = True
        except BaseException:  # closed while the old file was read (GeneratorExit), ...
            if new is not None:
                new.handle.close()
            raise
        old.grew = self._clock()
        self._rotated.append(old)
        # Renamed more than once since the last look (a consumer that held a chunk): the
        # files between, never opened, are numbered copies newer than the old one (and older
        # than the new one, when it was renamed too: what is newer comes after it).
        between = self._open_listed(self._newer_than(
            old.inode, until=new.inode if new is not None else None))
        yield from self._read_whole(between, keep=True)
        if new is None:  # not opened, or renamed away again before it could be
            self._open_when_there(at_end=False)
        else:
            self._current = new

    def _truncated(self, source: _Source, size: int) -> bool:
        """True when the file is shorter than what was read, or holds other bytes before the
        read position than the ones read there (truncated and written again since)."""
        if size < source.position:
            return True
        if not source.tail:
            return False
        start = source.position - len(source.tail)
        return _pread(source.handle, start, len(source.tail)) != source.tail

    def _recover(self, source: _Source) -> Iterator[bytes]:
        """Truncated in place: the rest from the copy made before the truncation, then the
        file from its start. That start is read first (while the copy is read, the file may
        be truncated again: what was read of it tells)."""
        numbered = self._numbered()  # before anything is yielded: a later copy is new
        copy, read_to = self._copy_of(source), source.position
        source.handle.seek(0)
        source.position, source.tail = 0, b""
        head = source.read()
        later: list[_Source] = []
        if copy is not None:
            with copy:
                info = os.fstat(copy.fileno())
                later = self._open_listed(  # opened now: a rotation meanwhile moves names
                    self._newer_than((info.st_dev, info.st_ino), numbered=numbered))
                if later and _starts_with(source.handle, later[-1].handle):
                    later.pop().handle.close()  # copied, not truncated yet: the file holds it
                copy.seek(read_to)
                while chunk := copy.read(BLOCK):
                    self._ended = chunk.endswith(b"\n")
                    yield chunk
        if not self._ended:
            yield b"\n"
            self._ended = True
        # Truncated more than once since the last look: the later copies are unread whole.
        yield from self._read_whole(later, keep=False)
        source.known = frozenset(node for _, node, _ in numbered)
        if head:
            source.grew = self._clock()
            self._ended = head.endswith(b"\n")
            yield head

    def _numbered(self) -> list[tuple[int, tuple[int, int], Path]]:
        """The numbered rotations of the path that are regular files (error.log.1 up to
        .COPIES, as logrotate names them without dateext): (number, inode, path)."""
        found = []
        for number in range(1, COPIES + 1):
            path = self.path.with_name(f"{self.path.name}.{number}")
            try:
                info = path.stat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                found.append((number, (info.st_dev, info.st_ino), path))
        return found

    def _seen(self) -> set[tuple[int, int]]:
        """The files being read, and the copies read whole already."""
        return {s.inode for s in [self._current, *self._rotated] if s is not None} | set(
            self._whole)

    def _newer_than(self, inode: tuple[int, int], *, until: tuple[int, int] | None = None,
                    numbered: list[tuple[int, tuple[int, int], Path]] | None = None
                    ) -> list[tuple[tuple[int, int], Path]]:
        """The numbered rotations made after the file ``inode`` (when it is one of them) and
        before the file ``until`` (when it is one), oldest first, as (inode, path); files
        being read or read whole already are left out."""
        numbered = self._numbered() if numbered is None else numbered
        number = {node: n for n, node, _ in numbered}
        if inode not in number:
            return []
        low = number.get(until, 0) if until is not None else 0
        skip = self._seen() | {inode}
        return [(node, path) for n, node, path in reversed(numbered)
                if low < n < number[inode] and node not in skip]

    def _new_copy(self, source: _Source) -> bool:
        """True when error.log.1 is a file ``source`` has not seen (one stat)."""
        try:
            info = self.path.with_name(f"{self.path.name}.1").stat()
        except OSError:
            return False
        node = (info.st_dev, info.st_ino)
        # (An empty one holds nothing yet: it may be a copy just begun.)
        return (stat.S_ISREG(info.st_mode) and info.st_size > 0 and node not in source.known
                and node not in self._seen())

    def _open_listed(self, listed: list[tuple[tuple[int, int], Path]]) -> list[_Source]:
        """Each listed file opened now, if it still is the file listed under that name."""
        opened = []
        for node, path in listed:
            try:
                handle = path.open("rb")
            except OSError:
                continue
            info = os.fstat(handle.fileno())
            if (info.st_dev, info.st_ino) != node:
                handle.close()
                continue
            opened.append(_Source(handle, node, grew=self._clock()))
        return opened

    def _read_whole(self, sources: list[_Source], *, keep: bool) -> Iterator[bytes]:
        """Each file from its start to its end, in order; ``keep``: then drained like a
        rotated file (its writer may not have reopened its log yet)."""
        pending = list(sources)
        try:
            while pending:
                source = pending.pop(0)
                self._whole.append(source.inode)
                while chunk := source.read():
                    self._ended = chunk.endswith(b"\n")
                    yield chunk
                if not self._ended:
                    yield b"\n"
                    self._ended = True
                if keep:
                    self._rotated.append(source)
                else:
                    source.handle.close()
        finally:  # closed meanwhile: what was not read
            for source in pending:
                source.handle.close()

    def _copy_of(self, source: _Source) -> IO[bytes] | None:
        """The sibling that holds, at the read position, the bytes last read: the copy that
        ``copytruncate`` made (None when there is none)."""
        folder, name = self.path.parent, self.path.name
        try:
            siblings = [p for p in folder.iterdir()
                        if p.name != name and p.name.startswith(name)]
        except OSError:
            return None
        found: list[tuple[float, Path]] = []
        for path in siblings:
            try:
                info = path.stat()
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and info.st_size >= source.position:
                found.append((info.st_mtime, path))
        start = source.position - len(source.tail)
        for _, path in sorted(found, reverse=True)[:COPIES]:
            try:
                handle = path.open("rb")
            except OSError:
                continue
            if _pread(handle, start, len(source.tail)) == source.tail:
                return handle
            handle.close()
        return None

    def _drain_rotated(self) -> Iterator[bytes]:
        """Whole lines a rotated file got since (its writer has not reopened yet); files
        quiet for DRAIN seconds are closed."""
        now = self._clock()
        for old in list(self._rotated):
            if self._truncated(old, _size(old.handle)):  # rewritten in place since (a copy
                old.handle.close()  # made onto its name): what it holds is not this log's
                self._rotated.remove(old)
                continue
            data = old.partial + old.read()
            if len(data) > len(old.partial):
                old.grew = now
            cut = data.rfind(b"\n") + 1
            old.partial = data[cut:]
            if cut:
                yield data[:cut]
            if now - old.grew >= DRAIN:
                if old.partial:
                    yield old.partial + b"\n"
                old.handle.close()
                self._rotated.remove(old)


def _size(handle: IO[bytes]) -> int:
    try:
        return os.fstat(handle.fileno()).st_size
    except (OSError, ValueError):
        return 0


def _starts_with(handle: IO[bytes], copy: IO[bytes]) -> bool:
    """True when the file starts with the copy's first bytes (a copy not truncated away)."""
    head = _pread(copy, 0, TAIL)
    return bool(head) and _pread(handle, 0, len(head)) == head


def _pread(handle: IO[bytes], offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset``, the handle's position unchanged."""
    try:
        return os.pread(handle.fileno(), size, offset)
    except (OSError, ValueError):
        return b""
