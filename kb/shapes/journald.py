"""journald's JSON export, one object per line (``journalctl -o json``, ``-o json-seq`` less
the separator): ``{"MESSAGE": "...", "_PID": "1234", "SYSLOG_IDENTIFIER": "apache2",
"_HOSTNAME": "web1", "__REALTIME_TIMESTAMP": "1709633521000000", "PRIORITY": "3", ...}``.

The message is the ``MESSAGE`` field (journald gives bytes that are not UTF-8 as a list of
numbers: those are decoded leniently); the pid, host, program, time and syslog PRIORITY
become fields. The message may carry an Apache prefix: the caller tries again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from kb.shapes import Prefix

_PRIORITIES = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
MAX_JSON = 65536  # characters of one object looked at
# The lines whose message is not their bytes, for a scanner over raw bytes (the log pipe's
# prefilter, which looks for signals in the bytes): a MESSAGE given as byte values, or any
# JSON escape (``\u0041``, ``\"`` and ``\/`` spell a signal otherwise; an escaped key, too),
# wherever the object starts: a container's or syslog's prefix, or a lone CR, may come first.
ENCODED_MARKER = r'"MESSAGE"\s*:\s*\[|\{\s*".*\\'


class Journald:
    """journalctl -o json lines: message, pid, host, program, time, level."""

    name = "journald"
    wraps = True  # MESSAGE is what the program wrote: an Apache line, say

    def match(self, line: str) -> Prefix | None:
        if not line.startswith("{") or '"MESSAGE"' not in line[:MAX_JSON]:
            return None
        try:
            record = json.loads(line[:MAX_JSON])
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        message = record.get("MESSAGE")
        if isinstance(message, list) and all(isinstance(b, int) for b in message):
            message = bytes(b & 0xFF for b in message).decode("utf-8", "replace")
        if not isinstance(message, str):
            return None
        return Prefix(self.name, message.replace("\n", " "), _fields(record))


def _fields(record: dict[str, object]) -> dict[str, str]:
    fields = {}
    for key, name in (("_PID", "pid"), ("_HOSTNAME", "host"), ("SYSLOG_IDENTIFIER", "program"),
                      ("_SYSTEMD_UNIT", "unit")):
        value = record.get(key)
        if isinstance(value, str) and value:
            fields[name] = value[:200]
    stamp = record.get("__REALTIME_TIMESTAMP")
    if isinstance(stamp, str) and stamp.isdigit():
        when = datetime.fromtimestamp(int(stamp) / 1_000_000, tz=UTC)
        fields["received"] = when.isoformat()
    priority = record.get("PRIORITY")
    if isinstance(priority, str) and priority.isdigit() and int(priority) < len(_PRIORITIES):
        # Not "level": the Apache line inside has its own, which must win.
        fields["priority"] = _PRIORITIES[int(priority)]
    return fields


SHAPE = Journald()
