"""Apache httpd 1.3/2.0/2.2 error log: ``[Tue Mar 05 10:12:01 2004] [error] [client 1.2.3.4] ...``.

mod_ssl of that era may follow with a source tag: ``ssl_engine_io.c(1234): ...`` at debug level.
"""

from __future__ import annotations

import re

from kb.shapes import LEVEL_RE, Prefix, regex_prefix

_RE = re.compile(
    r"^\[(?P<time>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \d{4})\] "
    r"\[(?P<level>" + LEVEL_RE + r")\]"
    r"(?: \[client (?P<client>[^\]]{1,80})\])?"
    r"(?: (?P<source>[\w.-]+\.c\(\d+\)):)?"
    r" ?",
    re.IGNORECASE,
)


class Apache22:
    """Apache 2.2 and older error-log lines: level, client, source tag."""

    name = "apache22"
    wraps = False  # its message is the message: no prefix inside

    def match(self, line: str) -> Prefix | None:
        return regex_prefix(self.name, _RE, line)


SHAPE = Apache22()
