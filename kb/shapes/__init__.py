"""Log-line shapes: each module recognises one kind of prefix and splits it from the message.

A shape is any object with a ``name`` and a ``match(line) -> Prefix | None`` method (the
``Shape`` protocol). ``SHAPES`` is tried in order; a prefix that wraps another (syslog around an
Apache line) is peeled and the rest is tried again, so ``Mar  5 10:12:01 host httpd[1]: [Tue
...] [ssl:error] ...`` yields both layers' fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

from kb.levels import LEVEL_RE as LEVEL_RE


@dataclass(slots=True)
class Prefix:
    """Fields found in a line's prefix; ``message`` is what follows it."""

    shape: str
    message: str
    fields: dict[str, str] = field(default_factory=dict)


class Shape(Protocol):
    """One log shape: a name and a matcher."""

    name: str
    wraps: bool  # True when the message after this prefix may start with another prefix

    def match(self, line: str) -> Prefix | None:
        """Split the prefix off ``line``, or None when the line is not of this shape."""
        ...


def regex_prefix(name: str, pattern: re.Pattern[str], line: str) -> Prefix | None:
    """The prefix ``pattern`` matches at the start of ``line``: its named groups that matched
    become the fields, the rest of the line the message (None when it does not match)."""
    m = pattern.match(line)
    if m is None:
        return None
    return Prefix(name, line[m.end() :], {k: v for k, v in m.groupdict().items() if v})


def all_shapes() -> list[Shape]:
    """Every shape, most specific first."""
    from kb.shapes import accesslog, apache22, apache24, container, journald, nginx, php, syslog

    return [apache24.SHAPE, apache22.SHAPE, nginx.SHAPE, syslog.SHAPE, journald.SHAPE,
            container.SHAPE, accesslog.SHAPE, php.SHAPE]
