"""Access-log lines (common/combined formats, optionally with a vhost or file name first).

``203.0.113.7 - - [26/Nov/2015:14:10:37 +0100] "GET / HTTP/1.1" 200 512``. They describe
requests, not errors: kb stays silent on them unless an exact signature matches (the TLS
ClientHello bytes ``\\x16\\x03\\x01`` logged as a request line are one such case).
"""

from __future__ import annotations

import re

from kb.shapes import Prefix, regex_prefix

_RE = re.compile(
    r"^(?:\S+\s+){0,3}?(?P<client>[0-9A-Fa-f.:]{3,45})\s+(?:\S+\s+){0,2}"
    r"\[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]\s+"
)
_STATUS = re.compile(r"(?:\"[^\"]*\"|\S+)\s+(?P<status>[1-5]\d\d)\b")


class AccessLog:
    """Access-log lines: client, time, HTTP status."""

    name = "accesslog"
    wraps = False  # its message is the message: no prefix inside

    def match(self, line: str) -> Prefix | None:
        prefix = regex_prefix(self.name, _RE, line)
        if prefix is None:
            return None
        status = _STATUS.match(prefix.message)
        if status is not None:
            prefix.fields["status"] = status.group("status")
        return prefix


SHAPE = AccessLog()
