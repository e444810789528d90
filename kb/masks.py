"""Masking variables out of a log message: one ordered table joined into one regex.

Order matters: the first alternative that matches at a position wins, so the things that must
survive (codes) come first, and wide shapes (timestamps, URLs, paths) come before the narrow
ones they contain (IPs, numbers). Each row says why it sits where it does; tests/test_masks.py
holds one input -> expected line per row. Masking is idempotent: no mask's output matches any
row again (placeholders are ``<name>``, and ``<`` and ``>`` start no row).
"""

from __future__ import annotations

import re

from kb.openssl import unpack

KEEP = "keep"

# (name, pattern). name KEEP leaves the match untouched.
MASKS: list[tuple[str, str]] = [
    # Kept first: httpd's message codes carry the meaning of the line (AH02565 ...).
    (KEEP, r"\bAH\d{5}\b"),
    # Kept: OpenSSL's packed code and library in `error:0A0000C1:SSL routines:...`.
    (KEEP, r"\berror:[0-9A-Fa-f]{8}:"),
    # Kept: numbers whose value is the message (alert 42 = bad certificate, verify error 20).
    (KEEP, r"alert number \d+|error:num=\d+|Error \(\d+\)|\(\d{1,3}\)(?=[A-Z])"),
    # Apache 2.x timestamps `[Tue Mar 05 10:12:01.123456 2024]`, before numbers eat them.
    ("time", r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d "
             r"\d\d:\d\d:\d\d(?:\.\d+)? \d{4}"),
    # ISO 8601 / nginx / PHP-FPM timestamps: 2024-03-05T10:12:01Z, 2017/04/07 19:05:21.
    ("time", r"\b\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"),
    # Access-log and PHP-FPM dates: 26/Nov/2015:14:10:37 +0100, 15-Feb-2021 08:31:49.
    ("time", r"\b\d\d[/-][A-Z][a-z]{2}[/-]\d{4}[: ]\d\d:\d\d:\d\d(?: [+-]\d{4})?"),
    # syslog dates `Mar  5 10:12:01`.
    ("time", r"\b[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\b"),
    # URLs before paths and hosts (they contain both).
    ("url", r"\b[a-z][a-z0-9+.-]{1,15}://[^\s'\"<>)\]]+"),
    # Bracketed IPv6 with port `[::]:443`, `[2001:db8::1]:8443`.
    ("ip", r"\[[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*\](?::\d{1,5})?"),
    # IPv4 with optional port, before numbers.
    ("ip", r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"),
    # Bare IPv6 (at least two colons and a hex group): 2001:db8::1, fe80::1.
    # (needs a '::' or four groups, so clock times like 10:12:01 are not taken for one).
    ("ip", r"(?<![\w:])(?=[0-9A-Fa-f:]*::|(?:[0-9A-Fa-f]{1,4}:){4})[0-9A-Fa-f]{0,4}"
           r"(?::[0-9A-Fa-f]{0,4}){2,7}(?:/\d+)?(?![\w:])"),
    # Absolute paths (Unix and Windows) before host names: /etc/apache2/ssl/a.crt, C:/wamp/...
    ("path", r"(?<![\w.<>/])(?:[A-Za-z]:)?/(?:[\w.@%+~-]+/)*[\w.@%+~-]*"),
    # Host names (two or more labels with a TLD-ish end) with optional :port[:n] vhost suffix.
    # The last label is all lower or all upper case and the name does not go on with a dot:
    # dotted code names such as javax.net.ssl.SSLHandshakeException, ssl.SSLError or
    # o.a.t.u.n.SSLUtilBase are the message, not a variable.
    ("host", r"\b(?:[A-Za-z0-9-]{1,63}\.)+(?:[a-z]{2,24}|[A-Z]{2,24})"
             r"(?::\d{1,5}(?::\d+)?)?\b(?!\.\w)"),
    # Quoted values that are variable (a digit, dot or slash inside): file names, hosts, key
    # ids. 'SSLEngine' and 'no shared cipher' stay; so does a quoted AH code or OpenSSL error.
    ("str", r"(?<![\w'<>])'(?![^'\n]*(?:AH\d{5}|error:))[^'\n]{0,200}[\d./][^'\n]{0,200}'(?![\w<>])"
            r"|(?<![\w\"<>])\"(?![^\"\n]*(?:AH\d{5}|error:))[^\"\n]{0,200}[\d./][^\"\n]{0,200}\""
            r"(?![\w<>])"),
    # Hex runs (serials, session ids, addresses): 6+ hex digits with a digit, or 0x...
    ("hex", r"\b0x[0-9A-Fa-f]+\b|\b(?=[0-9A-Fa-f]*\d)(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{6,}\b"),
    # Numbers last: pids, ports, sizes, counts. Packed OpenSSL codes in decimal are kept.
    ("num", r"\b\d+\b"),
]

_JOINED = re.compile("|".join(f"(?P<m{i}>{pattern})" for i, (_, pattern) in enumerate(MASKS)))
_NAMES = [name for name, _ in MASKS]
MAX_TEMPLATE = 2000


def _replace(match: re.Match[str]) -> str:
    index = int(match.lastgroup[1:])  # type: ignore[index]
    name = _NAMES[index]
    text = match.group()
    if name == KEEP:
        return text
    if name == "num" and 8 <= len(text) <= 10 and unpack(int(text)) is not None:
        return text
    return f"<{name}>"


def mask(message: str) -> str:
    """The template of a message: variables replaced by ``<time>``, ``<ip>``, ``<num>`` ...

    Idempotent: the table is applied until nothing changes (a placeholder can complete a
    shape such as ``<host>::``), and the result is cut to MAX_TEMPLATE between placeholders.
    """
    template = message[:MAX_TEMPLATE]
    for _ in range(6):
        masked = _cut(_JOINED.sub(_replace, template))
        if masked == template:
            break
        template = masked
    return template


def _cut(template: str) -> str:
    if len(template) <= MAX_TEMPLATE:
        return template
    cut = template[:MAX_TEMPLATE]
    opening = cut.rfind("<")
    return cut[:opening] if opening > cut.rfind(">") else cut
