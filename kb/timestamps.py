"""Log timestamps as ISO 8601, so times from several files compare and sort.

Forms (the ``time`` field the shapes in kb.shapes take from a line's prefix): Apache 2.x
``Tue Mar 05 10:12:01.123456 2024``, nginx ``2024/03/05 10:12:01``, ISO 8601 / RFC 5424
``2024-03-05T10:12:01.123456+01:00``, access logs ``26/Nov/2015:14:10:37 +0100``, PHP's error
log ``05-Mar-2024 10:12:01 UTC`` (UTC kept as +00:00; a named zone stays local). syslog's
``Mar  5 10:12:01`` has no year: it stays as written and is not compared with the others.
Times without a zone are taken as written (the server's local time), which is what a reader
of one server's logs compares. Digits are ASCII (a time written in other digits is none: it
would sort among the others by code point).
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_APACHE = re.compile(r"^[A-Z][a-z]{2} (?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) "
                     r"(?P<clock>\d\d:\d\d:\d\d)(?P<frac>\.\d+)? (?P<year>\d{4})$", re.ASCII)
_NGINX = re.compile(r"^(?P<year>\d{4})/(?P<mon>\d\d)/(?P<day>\d\d) (?P<clock>\d\d:\d\d:\d\d)$",
                    re.ASCII)
_ACCESS = re.compile(r"^(?P<day>\d\d)/(?P<mon>[A-Z][a-z]{2})/(?P<year>\d{4}):"
                     r"(?P<clock>\d\d:\d\d:\d\d) (?P<zone>[+-]\d{4})$", re.ASCII)

_PHP = re.compile(r"^(?P<day>\d\d)-(?P<mon>[A-Z][a-z]{2})-(?P<year>\d{4}) "
                  r"(?P<clock>\d\d:\d\d:\d\d)(?: (?P<zone>\S+))?$", re.ASCII)


def iso(text: str) -> str | None:
    """The ISO 8601 form of a log timestamp, or None when it has none (or no year)."""
    text = text.strip()
    try:
        return _iso(text)
    except ValueError:  # a day or hour out of range: not a time
        return None


@lru_cache(maxsize=4096)
def _day(year: int, month: int, day: int) -> str:
    """``YYYY-MM-DD`` of a date (ValueError when there is no such day); a log's lines share
    a few days, so each is checked and written once."""
    return f"{datetime(year, month, day):%Y-%m-%d}"


@lru_cache(maxsize=4096)
def _apache_day(year: str, month: str, day: str) -> str | None:
    """``_day`` of an Apache date's fields as written (None for a month name there is not)."""
    number = _MONTHS.get(month)
    return None if number is None else _day(int(year), number, int(day))


def _iso(text: str) -> str | None:
    m = _APACHE.match(text)
    if m:
        month, day, clock, frac, year = m.groups()
        date = _apache_day(year, month, day)
        if date is not None:
            return f"{date}T{clock}{frac or ''}"
    m = _NGINX.match(text)
    if m:
        day = _day(int(m.group("year")), int(m.group("mon")), int(m.group("day")))
        return f"{day}T{m.group('clock')}"
    m = _ACCESS.match(text)
    if m and m.group("mon") in _MONTHS:
        day = _day(int(m.group("year")), _MONTHS[m.group("mon")], int(m.group("day")))
        zone = m.group("zone")
        return f"{day}T{m.group('clock')}{zone[:3]}:{zone[3:]}"
    m = _PHP.match(text)
    if m and m.group("mon") in _MONTHS:
        day = _day(int(m.group("year")), _MONTHS[m.group("mon")], int(m.group("day")))
        zone = "+00:00" if m.group("zone") in ("UTC", "GMT") else ""
        return f"{day}T{m.group('clock')}{zone}"
    if re.match(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d", text, re.ASCII):
        return datetime.fromisoformat(text.replace(" ", "T", 1)).isoformat()
    return None
