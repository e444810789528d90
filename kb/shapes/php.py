"""PHP's own error-log lines: ``[05-Mar-2024 10:12:01 UTC] PHP Warning:  message in FILE on line
N`` (php_error_cb and php_log_err in PHP's main/main.c: "PHP %s:  %s", the type one of "Fatal
error", "Recoverable fatal error", "Warning", "Parse error", "Notice", "Strict Standards",
"Deprecated", "Unknown error"; the time only in PHP's own error_log file, not when the SAPI
logs through Apache's). Also the "PHP Stack trace:" lines after a fatal error.

PHP writes into the error logs kb reads (mod_php into Apache's, PHP-FPM into its own), and its
messages name files, libraries and functions, not TLS: with its level the line is log text,
which needs an exact signal to be answered, not a sentence to rank.
"""

from __future__ import annotations

import re

from kb.shapes import Prefix, regex_prefix

_RE = re.compile(
    r"^(?:\[(?P<time>\d\d-[A-Z][a-z]{2}-\d{4} \d\d:\d\d:\d\d(?: [\w/+-]{1,40})?)\] )?"
    r"PHP (?P<php>Fatal error|Recoverable fatal error|Catchable fatal error|Warning|Parse error"
    r"|Notice|Strict Standards|Deprecated|Unknown error|Stack trace|\s*\d{1,4}\.)(?::\s*|\s+)"
)
_LEVELS = {"warning": "warn", "notice": "notice", "strict standards": "notice",
           "deprecated": "notice", "stack trace": "notice"}


class Php:
    """PHP error-log lines: time, level (fatal and parse errors are errors)."""

    name = "php"
    wraps = False  # its message is the message: no prefix inside

    def match(self, line: str) -> Prefix | None:
        prefix = regex_prefix(self.name, _RE, line)
        if prefix is None:
            return None
        kind = prefix.fields.pop("php").strip().lower()
        prefix.fields["level"] = _LEVELS.get(kind, "notice" if kind[:1].isdigit() else "error")
        return prefix


SHAPE = Php()
