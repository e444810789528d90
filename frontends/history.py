"""The shell's history file: private, bounded, escaped, and optional.

It holds what was typed and pasted, so it is kept like a secret (issue 18, F21):

- ``$KB_DATA_DIR/shell_history`` (else the per-user data directory), created 0600 in a
  directory created 0700; an older, looser file is made 0600 when opened;
- control characters and escape sequences are stored as visible escapes (``\\x1b[31m``),
  so neither recalling an entry nor ``cat``-ing the file replays them;
- an entry keeps its first ``MAX_ENTRY`` characters, and the file its newest entries: past
  ``MAX_BYTES`` it is rewritten (atomically, 0600) with the newest half; only the last
  ``MAX_BYTES`` are ever read;
- ``KB_HISTORY=0`` (or ``off``) stores nothing on disk; ``KB_HISTORY=questions`` (or ``kb shell
  --history questions``) stores questions and commands but no pasted log excerpts.

The file keeps prompt_toolkit's FileHistory format, so older histories load. A history that
cannot be written never ends the shell: writes that fail are dropped.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import stat
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from frontends.render import clean

if TYPE_CHECKING:
    from prompt_toolkit.history import History

FILE_NAME = "shell_history"
MAX_BYTES = 1 << 20  # the file's size cap
MAX_ENTRY = 4000  # characters of one entry kept


class HistoryMode(StrEnum):
    """What the shell's history file keeps."""

    ALL = "all"
    QUESTIONS = "questions"  # no pasted log excerpts
    OFF = "off"


def history_mode(value: str | None) -> HistoryMode:
    """``KB_HISTORY`` (or ``--history``) as a mode: 0/off/no, questions, else all."""
    text = (value or "").strip().lower()
    if text in ("0", "off", "no", "false", "none"):
        return HistoryMode.OFF
    if text in ("questions", "no-logs"):
        return HistoryMode.QUESTIONS
    return HistoryMode.ALL


def data_dir(environ: dict[str, str]) -> Path:
    """Where the shell keeps its history: $KB_DATA_DIR, else the per-user data directory."""
    override = environ.get("KB_DATA_DIR")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir("kb"))


def open_history(directory: Path, mode: HistoryMode = HistoryMode.ALL) -> History:
    """The history file in ``directory`` (see the module); in-memory history when it is off
    or cannot be written."""
    from prompt_toolkit.history import InMemoryHistory

    if mode is HistoryMode.OFF:
        return InMemoryHistory()
    path = directory / FILE_NAME
    try:
        _private_file(directory, path)
    except OSError:
        return InMemoryHistory()
    return _history_class()(path, mode)


def _private_file(directory: Path, path: Path) -> None:
    """Create the directory (0700) and the file (0600), or make an existing file 0600."""
    if not directory.is_dir():
        directory.mkdir(mode=0o700, parents=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path}: not a regular file")
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(descriptor, 0o600)
    finally:
        os.close(descriptor)


def entry_text(string: str) -> str:
    """What the file stores of one input: escaped, cut to MAX_ENTRY characters."""
    return clean(string[:MAX_ENTRY])


def is_log_excerpt(string: str) -> bool:
    """True for pasted log text (several lines, or a line kb reads as a log line)."""
    from kb import parse

    text = string.strip()
    if not text or text.startswith((":", "?")) or text.isdigit():
        return False
    return "\n" in text or parse(text[:MAX_ENTRY]).kind.value == "log"


def _history_class() -> Callable[[Path, HistoryMode], History]:
    from prompt_toolkit.history import History

    class PrivateHistory(History):
        """prompt_toolkit's history over the private, bounded file."""

        def __init__(self, path: Path, mode: HistoryMode) -> None:
            self.path = path
            self.mode = mode
            super().__init__()

        def load_history_strings(self) -> Iterable[str]:
            return reversed(read_entries(self.path))

        def store_string(self, string: str) -> None:
            if self.mode is HistoryMode.QUESTIONS and is_log_excerpt(string):
                return
            with contextlib.suppress(OSError):  # a full disk must not end the shell
                append_entry(self.path, entry_text(string))

    return PrivateHistory


def _record(string: str) -> bytes:
    lines = "".join(f"+{line}\n" for line in string.split("\n"))
    return f"\n# {datetime.datetime.now()}\n{lines}".encode("utf-8", "replace")


def append_entry(path: Path, string: str) -> None:
    """Add one entry; rewrite the file with its newest entries when it outgrows MAX_BYTES."""
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.write(descriptor, _record(string))
        size = os.fstat(descriptor).st_size
    finally:
        os.close(descriptor)
    if size > MAX_BYTES:
        _compact(path)


def _compact(path: Path) -> None:
    kept: list[bytes] = []
    total = 0
    for string in reversed(read_entries(path)):
        record = _record(string)
        if total + len(record) > MAX_BYTES // 2:
            break
        kept.append(record)
        total += len(record)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.write(descriptor, b"".join(reversed(kept)))
    finally:
        os.close(descriptor)
    os.replace(tmp, path)


def read_entries(path: Path) -> list[str]:
    """The entries of the file's last MAX_BYTES, oldest first."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_BYTES:
                handle.seek(size - MAX_BYTES)
                handle.readline()  # from a line start
            data = handle.read(MAX_BYTES)
    except OSError:
        return []
    entries: list[str] = []
    lines: list[str] = []
    for raw in data.decode("utf-8", "replace").split("\n"):
        if raw.startswith("+"):
            lines.append(raw[1:])
        elif lines:
            entries.append("\n".join(lines))
            lines = []
    if lines:
        entries.append("\n".join(lines))
    return entries
