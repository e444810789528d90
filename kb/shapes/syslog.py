"""syslog / journald prefixes: ``Mar  5 10:12:01 host httpd[123]: ...`` (RFC 3164 style) and
``2024-03-05T10:12:01.123456+01:00 host apache2[123]: ...`` (rsyslog high precision, and
``journalctl -o short-iso``), with or without a ``<PRI>``, and RFC 5424's
``<165>1 2024-03-05T10:12:01Z host apache2 1234 - - message``.
The message often carries an Apache prefix of its own; the caller tries the shapes again.
"""

from __future__ import annotations

import re

from kb.shapes import Prefix, regex_prefix

_RE = re.compile(
    r"^(?:<\d{1,3}>)?(?P<time>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    r"(?P<host>[\w.-]{1,64}) (?P<program>[\w./@-]{1,64})(?:\[(?P<pid>\d{1,10})\])?: ?"
    # RFC 5424: <PRI>1 TIME HOST APP PROCID MSGID [STRUCTURED-DATA] MSG
    r"|^<\d{1,3}>1 (?P<time5424>\S{1,40}) (?P<host5424>\S{1,255}) (?P<program5424>\S{1,48}) "
    r"(?P<pid5424>\S{1,128}) \S{1,32} (?:-|(?:\[(?:[^\]\\]|\\.)*\])+) ?"
)


class Syslog:
    """syslog and journald lines: time, host, program, pid."""

    name = "syslog"
    wraps = True  # its message may carry another prefix (an Apache line)

    def match(self, line: str) -> Prefix | None:
        prefix = regex_prefix(self.name, _RE, line)
        if prefix is not None and "time5424" in prefix.fields:
            fields = prefix.fields
            for name in ("time", "host", "program", "pid"):
                value = fields.pop(f"{name}5424", "-")
                if value != "-":
                    fields[name] = value
        return prefix


SHAPE = Syslog()
