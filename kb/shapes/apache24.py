"""Apache httpd 2.4 error log (default ErrorLogFormat).

``[Tue Mar 05 10:12:01.123456 2024] [ssl:error] [pid 1234:tid 5678] ssl_engine_kernel.c(1764):
(70007)The timeout specified has expired: [client 1.2.3.4:5678] AH02039: ...``; the time and
pid may be anonymised (``[XXX XXX XX ...]``, ``[pid XXXXX]``) in pasted logs.
"""

from __future__ import annotations

import re

from kb.shapes import LEVEL_RE, Prefix, regex_prefix

_RE = re.compile(
    r"^\[(?P<time>[^\[\]]{8,48})\] \[(?P<module>[\w-]+):(?P<level>" + LEVEL_RE + r")\]"
    r"(?: \[pid (?P<pid>[^\]:]+)(?::tid (?P<tid>[^\]]+))?\])?"
    r"(?: (?P<source>[\w.-]+\.c\(\d+\)):)?"
    r"(?: (?P<status>\(-?\d+\)[^\[\]:]{0,120}):)?"
    r"(?: \[(?P<peer>client|remote) (?P<client>[^\]]{1,80})\])?"
    r" ?",
    re.IGNORECASE,
)


class Apache24:
    """Apache 2.4 error-log lines: module, level, pid, tid, source tag, APR status, peer
    (``client``, or ``remote`` for mod_proxy's backend connection) and its address."""

    name = "apache24"
    wraps = False  # its message is the message: no prefix inside

    def match(self, line: str) -> Prefix | None:
        prefix = regex_prefix(self.name, _RE, line)
        if prefix is not None and "status" in prefix.fields:
            prefix.message = f"{prefix.fields['status']}: {prefix.message}"
        return prefix


SHAPE = Apache24()
