"""Log inputs for ``kb diagnose`` that only a command line has: stdin, and following a file like
``tail -F`` (frontends.follow). Files themselves are read by kb.logfiles (compression, binary
check).
"""

from __future__ import annotations

import os
import stat
from typing import Any

from frontends.follow import Follower
from kb import LOG_BLOCK as BLOCK
from kb import LogInputError as InputError
from kb import check_log_text as check_text
from kb import log_blocks as read_blocks
from kb import open_log
from kb import stream_blocks as stdin_blocks

__all__ = ["BLOCK", "Follower", "InputError", "check_text", "is_regular", "open_log",
           "read_blocks", "regular_path", "stdin_blocks"]


def regular_path(stream: Any) -> str | None:
    """The path of the regular file ``stream`` reads, when it is one, is read from its start,
    and its path names that same file (Linux's /proc/self/fd link), so that other processes
    can open it (``kb diagnose < big.log`` on all cores); else None."""
    try:
        fd = stream.fileno()
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or os.lseek(fd, 0, os.SEEK_CUR) != 0:
            return None
        path = os.readlink(f"/proc/self/fd/{fd}")
        same = os.stat(path)
    except (AttributeError, OSError, ValueError):
        return None
    if not os.path.isabs(path) or (same.st_dev, same.st_ino) != (info.st_dev, info.st_ino):
        return None  # deleted, replaced, or not a path another process can open
    return path


def is_regular(stream: Any) -> bool:
    """True when ``stream`` is a regular file (stdin redirected from a file)."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return True  # an in-memory stream (tests): behave like a file
