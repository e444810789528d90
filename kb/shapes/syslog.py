"""syslog / journald prefixes: ``Mar  5 10:12:01 host httpd[123]: ...`` (RFC 3164 style) and
``2024-03-05T10:12:01.123456+01:00 host apache2[123]: ...`` (RFC 5424 / rsyslog high precision).
The message often carries an Apache prefix of its own; the caller tries the shapes again.
"""

from __future__ import annotations

import re

from kb.shapes import Prefix, regex_prefix

_RE = re.compile(
    r"^(?P<time>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?) "
    r"(?P<host>[\w.-]{1,64}) (?P<program>[\w./@-]{1,64})(?:\[(?P<pid>\d{1,10})\])?: ?"
)


class Syslog:
    """syslog and journald lines: time, host, program, pid."""

    name = "syslog"
    wraps = True  # its message may carry another prefix (an Apache line)

    def match(self, line: str) -> Prefix | None:
        return regex_prefix(self.name, _RE, line)


SHAPE = Syslog()
