"""Log levels: one ordered table, from which every other view of them is made.

httpd's levels (``LogLevel``: emerg ... debug, trace1 ... trace8), syslog's and nginx's use the
same names; ``warning`` is syslog's spelling of ``warn``.
"""

from __future__ import annotations

# level -> severity, lower is worse.
SEVERITY: dict[str, int] = {
    "emerg": 0, "alert": 1, "crit": 2, "error": 3, "warn": 4, "warning": 4, "notice": 5,
    "info": 6, "debug": 7, **{f"trace{n}": 8 for n in range(1, 9)},
}
UNKNOWN_SEVERITY = SEVERITY["warn"]  # a line without a level: as bad as a warning
ERROR_LEVELS = frozenset(level for level, rank in SEVERITY.items() if rank <= SEVERITY["error"])
# Routine levels: httpd itself says the line is not a problem.
QUIET_LEVELS = frozenset(level for level, rank in SEVERITY.items() if rank >= SEVERITY["notice"])
# A regex alternative for any level name, longest spelling first.
LEVEL_RE = "|".join(sorted(SEVERITY, key=lambda level: (-len(level), level)))


def severity(level: str) -> int:
    """The severity of a level name (any case); unknown or empty levels count as warnings."""
    return SEVERITY.get(level.lower(), UNKNOWN_SEVERITY)
