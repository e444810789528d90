"""nginx error log: ``2024/03/05 10:12:01 [crit] 1234#1234: *56 message, client: 203.0.113.7,
server: example.com, request: "GET / HTTP/1.1"`` and the start-up form printed by ``nginx -t``
and systemd: ``nginx: [emerg] message``.

nginx fronts or sits beside httpd on many hosts and its TLS messages name the same causes
(OpenSSL errors, missing certificates, ports in use), so its lines get their level (the
routine ``[info]`` handshake noise then stays quiet like httpd's) and client.
"""

from __future__ import annotations

import re

from kb.shapes import LEVEL_RE, Prefix, regex_prefix

_RE = re.compile(
    r"^(?:(?P<time>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<level>" + LEVEL_RE + r")\] "
    r"(?P<pid>\d{1,10})#(?P<tid>\d{1,10}): (?:\*(?P<connection>\d{1,20}) )?"
    r"|nginx: \[(?P<startup_level>" + LEVEL_RE + r")\] )",
    re.IGNORECASE,
)
_CLIENT = re.compile(r", client: (?P<client>[^,\s]{1,80})")


class Nginx:
    """nginx error-log and start-up lines: time, level, pid, connection, client."""

    name = "nginx"
    wraps = False  # its message is the message: no prefix inside

    def match(self, line: str) -> Prefix | None:
        prefix = regex_prefix(self.name, _RE, line)
        if prefix is None:
            return None
        fields = prefix.fields
        fields["level"] = (fields.pop("startup_level", None) or fields["level"]).lower()
        client = _CLIENT.search(prefix.message)
        if client:
            fields["client"] = client.group("client")
        return prefix


SHAPE = Nginx()
