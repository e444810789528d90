"""Prefixes container tools put before every line of a container's output.

- ``docker logs --timestamps`` / ``kubectl logs --timestamps``: an RFC 3339 time with
  nanoseconds, ``2024-03-05T10:12:01.123456789Z [Tue Mar 05 ...] [ssl:error] ...``;
- ``kubectl logs --prefix``: ``[pod/web-7d4b9c-x2kq9/apache] ...``;
- ``docker compose logs``: the service and replica, padded, then ``|``: ``web-1  | ...``.

The line after the prefix is the container's own (an Apache line, usually): the caller tries
the shapes again. The time goes to ``received`` (the log's own time stays ``time``).
"""

from __future__ import annotations

import re

from kb.shapes import Prefix, regex_prefix

_RE = re.compile(
    r"^(?:(?P<received>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)) "
    r"(?=\S)(?!\S+ \S+\[\d+\]: )"  # not syslog's "time host program[pid]:" (that shape's)
    r"|\[(?P<pod>pod/[^\]\s/]{1,253}(?:/[^\]\s/]{1,63})?)\] "
    r"|(?P<service>[a-z0-9][a-z0-9_.-]{0,62}-\d{1,4}) +\| )"
)


class Container:
    """docker/kubectl/compose line prefixes: receive time, pod, service."""

    name = "container"
    wraps = True  # its message may carry another prefix (an Apache line)

    def match(self, line: str) -> Prefix | None:
        return regex_prefix(self.name, _RE, line)


SHAPE = Container()
