"""Access-log lines (common/combined formats, optionally with a vhost or file name first).

``203.0.113.7 - - [26/Nov/2015:14:10:37 +0100] "GET / HTTP/1.1" 200 512``. They describe
requests, not errors: kb stays silent on them unless an exact signature matches (the TLS
ClientHello bytes ``\\x16\\x03\\x01`` logged as a request line are one such case).
"""

from __future__ import annotations

import re

from kb.shapes import Prefix

_RE = re.compile(
    r"^(?:\S+\s+){0,3}?(?P<client>[0-9A-Fa-f.:]{3,45})\s+(?:\S+\s+){0,2}"
    r"\[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]\s+"
)
_STATUS = re.compile(r"(?:\"[^\"]*\"|\S+)\s+(?P<status>[1-5]\d\d)\b")


class AccessLog:
    """Access-log lines: client, time, HTTP status."""

    name = "accesslog"

    def match(self, line: str) -> Prefix | None:
        m = _RE.match(line)
        if m is None:
            return None
        fields = {k: v for k, v in m.groupdict().items() if v}
        rest = line[m.end() :]
        status = _STATUS.match(rest)
        if status is not None:
            fields["status"] = status.group("status")
        return Prefix(self.name, rest, fields)


SHAPE = AccessLog()
