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
           "read_blocks", "stdin_blocks"]


def is_regular(stream: Any) -> bool:
    """True when ``stream`` is a regular file (stdin redirected from a file)."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return True  # an in-memory stream (tests): behave like a file
