"""Masking variables out of a log message: one ordered table joined into one regex.

Order matters: the first alternative that matches at a position wins, so the things that must
survive (codes) come first, and wide shapes (timestamps, URLs, paths) come before the narrow
ones they contain (IPs, numbers). Each row says why it sits where it does and carries one
input -> expected example, which tests/test_masks.py checks row by row (and that the row is
the one that does it). Masking is idempotent: no mask's output matches any row again
(placeholders are ``<name>``, and ``<`` and ``>`` start no row).

Speed (the log pipe masks every candidate line): the joined regex tries every row at every
position, about 50 us for a 110-character message. Most messages are words separated by
single spaces, and every row but the few that hold a space (``_spans``) matches inside one
space-free token with the same result it has in the whole message (a space and the ends of a
token look alike to every lookaround of the table). So a message without those few shapes is
masked token by token, each distinct token once (a bounded cache): a few microseconds. The
property tests check that both paths give the same template on real and generated lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from kb.openssl import CERT_DETAILS, certificate_details, unpack


@dataclass(frozen=True)
class Mask:
    """One row of the table: what it replaces, why it sits where it does, an example."""

    name: str  # placeholder name, or KEEP
    pattern: str
    example: str  # an input whose masking this row decides ...
    expected: str  # ... and what it becomes


KEEP = "keep"  # the match stays as it is (and nothing after it in the table can take it)
STATUS_PATTERN = (r"\b(?:HTTP(?:/\d(?:\.\d)?)?(?: [Ee]rror| ERROR)?|[Ee]rror(?: [Cc]ode)?|ERROR"
                  r"|[Ss]tatus(?: [Cc]ode)?|STATUS|[Rr]esponse(?: [Cc]ode)?):? [1-5]\d\d\b"
                  r"(?![.:]\d)")

MASKS: tuple[Mask, ...] = (
    # Kept first: httpd's message codes carry the meaning of the line (AH02565 ...); a code
    # glued to a dotted word would otherwise be taken for a host name.
    Mask(KEEP, r"\bAH\d{5}\b", "see AH02565.html at 10:12", "see AH02565.html at <num>:<num>"),
    # Kept: OpenSSL's packed code and library in `error:0A0000C1:SSL routines:...`.
    Mask(KEEP, r"\berror:[0-9A-Fa-f]{8}:", "error:0A0000C1:SSL routines",
         "error:0A0000C1:SSL routines"),
    # Kept: numbers whose value is the message (alert 42 = bad certificate, verify error 20).
    Mask(KEEP, r"alert number \d+|error:num=\d+|Error \(\d+\)|\(\d{1,3}\)(?=[A-Z])",
         "SSL alert number 42", "SSL alert number 42"),
    # Kept: an HTTP status after the word that names it ("HTTP Error 429", "HTTP/1.1 403",
    # "status code 502", "error 525", Cloudflare's "Error code 525"): the status is the
    # message (429 = too many requests, 402 = payment required), where a bare number is a
    # count. Not an address ("error 127.0.0.1") nor a time ("status 10:12").
    Mask(KEEP, STATUS_PATTERN, "HTTP Error 429: Too Many Requests after 3 tries",
         "HTTP Error 429: Too Many Requests after <num> tries"),
    # mod_ssl's certificate details after a verify message (ssl_engine_log.c, ssl_log_cxerror:
    # " [subject: DN / issuer: DN / serial: N / notbefore: T / notafter: T]"): one client's
    # certificate, not the kind of failure; before the timestamps and paths inside it.
    Mask("cert", CERT_DETAILS,
         "expired [subject: CN=ann,O=Ex / issuer: CN=CA 1 / serial: 0A1B / notbefore: Mar  5 "
         "10:12:01 2024 GMT / notafter: Mar  5 10:12:01 2025 GMT]", "expired [<cert>]"),
    # Apache 2.x timestamps `[Tue Mar 05 10:12:01.123456 2024]`, before numbers eat them.
    Mask("time", r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d "
                 r"\d\d:\d\d:\d\d(?:\.\d+)? \d{4}",
         "[Tue Mar 05 10:12:01.123456 2024]", "[<time>]"),
    # ISO 8601 / nginx / PHP-FPM timestamps: 2024-03-05T10:12:01Z, 2017/04/07 19:05:21.
    Mask("time", r"\b\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?",
         "at 2024-03-05T10:12:01Z", "at <time>"),
    # Access-log and PHP-FPM dates: 26/Nov/2015:14:10:37 +0100, 15-Feb-2021 08:31:49.
    Mask("time", r"\b\d\d[/-][A-Z][a-z]{2}[/-]\d{4}[: ]\d\d:\d\d:\d\d(?: [+-]\d{4})?",
         "[26/Nov/2015:14:10:37 +0100]", "[<time>]"),
    # syslog dates `Mar  5 10:12:01`.
    Mask("time", r"\b[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\b", "Mar  5 10:12:01 host",
         "<time> host"),
    # URLs before paths and hosts (they contain both).
    Mask("url", r"\b[a-z][a-z0-9+.-]{1,15}://[^\s'\"<>)\]]+", "see https://x.example/a?b=1",
         "see <url>"),
    # Bracketed IPv6 with port `[::]:443`, `[2001:db8::1]:8443`.
    Mask("ip", r"\[[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*\](?::\d{1,5})?", "bind [::]:443", "bind <ip>"),
    # IPv4 with optional port, before numbers.
    Mask("ip", r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b", "client 203.0.113.7:51234",
         "client <ip>"),
    # Bare IPv6 (at least two colons and a hex group): 2001:db8::1, fe80::1.
    # (needs a '::' or four groups, so clock times like 10:12:01 are not taken for one).
    Mask("ip", r"(?<![\w:])(?=[0-9A-Fa-f:]*::|(?:[0-9A-Fa-f]{1,4}:){4})[0-9A-Fa-f]{0,4}"
               r"(?::[0-9A-Fa-f]{0,4}){2,7}(?:/\d+)?(?![\w:])",
         "from 2001:db8::1 now", "from <ip> now"),
    # Absolute paths (Unix and Windows) before host names: /etc/apache2/ssl/a.crt, C:/wamp/...
    Mask("path", r"(?<![\w.<>/])(?:[A-Za-z]:)?/(?:[\w.@%+~-]+/)*[\w.@%+~-]*",
         "file /etc/apache2/ssl/a.crt", "file <path>"),
    # Host names (two or more labels with a TLD-ish end) with optional :port[:n] vhost suffix.
    # The last label is all lower or all upper case and the name does not go on with a dot:
    # dotted code names such as javax.net.ssl.SSLHandshakeException, ssl.SSLError or
    # o.a.t.u.n.SSLUtilBase are the message, not a variable.
    Mask("host", r"\b(?:[A-Za-z0-9-]{1,63}\.)+(?:[a-z]{2,24}|[A-Z]{2,24})"
                 r"(?::\d{1,5}(?::\d+)?)?\b(?!\.\w)",
         "javax.net.ssl.SSLHandshakeException at WEB01.EXAMPLE.COM:443:0",
         "javax.net.ssl.SSLHandshakeException at <host>"),
    # Quoted values that are variable (a digit, dot or slash inside): file names, hosts, key
    # ids. 'SSLEngine' and 'no shared cipher' stay; so does a quoted AH code or OpenSSL error.
    Mask("str", r"(?<![\w'<>])'(?![^'\n]*(?:AH\d{5}|error:))[^'\n]{0,200}[\d./][^'\n]{0,200}'"
                r"(?![\w<>])|(?<![\w\"<>])\"(?![^\"\n]*(?:AH\d{5}|error:))[^\"\n]{0,200}"
                r"[\d./][^\"\n]{0,200}\"(?![\w<>])",
         "Invalid command 'SSLEngine' and 'a.b c'", "Invalid command 'SSLEngine' and <str>"),
    # Hex runs (serials, session ids, addresses): 6+ hex digits with a digit, or 0x...
    Mask("hex", r"\b0x[0-9A-Fa-f]+\b|\b(?=[0-9A-Fa-f]*\d)(?=[0-9A-Fa-f]*[A-Fa-f])"
                r"[0-9A-Fa-f]{6,}\b",
         "serial 03B111D4C2DA", "serial <hex>"),
    # Numbers last: pids, ports, sizes, counts. Packed OpenSSL codes in decimal are kept.
    Mask("num", r"\b\d+\b", "pid 1234 code 336151570", "pid <num> code 336151570"),
)

# The table without its quoted-value row: a statement in words keeps the words of what it
# quotes (kb.rank.text_for_terms); what varies inside the quotes is masked still.
UNQUOTED: tuple[Mask, ...] = tuple(m for m in MASKS if m.name != "str")

PLACEHOLDERS: tuple[str, ...] = tuple(dict.fromkeys(m.name for m in MASKS if m.name != KEEP))
# Any placeholder the table can write, e.g. for taking them out of search terms.
PLACEHOLDER_RE = re.compile("<(?:" + "|".join(PLACEHOLDERS) + ")>")
MAX_TEMPLATE = 2000

# Rows that can match across a space: timestamps, quoted values and the kept "alert number N",
# "Error (N)" and HTTP statuses. They are found on their own first and the text between them
# goes token by token: no row matches a quote, and no space-free row can run into a span that
# starts after white space; a span must also end where a token may end. Any other case (a
# timestamp inside brackets or glued to a word, spans that overlap) sends the whole message to
# the table.
_QUOTED = re.compile(next(m.pattern for m in MASKS if m.name == "str"))
_QUOTE_MARK = re.compile(r"\"|(?<!\w)'|'(?!\w)")  # not the apostrophe inside "can't"
_KEPT_ROW = re.compile(r"alert number \d+|Error \(\d+\)")
_STATUS = re.compile(STATUS_PATTERN)
_STATUS_ENDS = frozenset(" \t\n\r\f\v:,;)]")
_TIMES = re.compile("|".join(m.pattern for m in MASKS if m.name == "time"))
_CLOCK = re.compile(r"\d\d:\d\d:\d\d")  # in every timestamp row ...
_CLOCK_LEAD = 16  # ... at most this many characters after the timestamp's start
_TIME_ENDS = frozenset(" \t\n\r\f\v]),;")
# The token path's output stays under MAX_TEMPLATE (a character becomes at most a 6-character
# placeholder), so it never needs the cut that the whole-message path applies.
_TOKEN_PATH_MAX = MAX_TEMPLATE // 6 - 10
_TOKEN_CACHE = 16384
_MAYBE_VARIABLE = re.compile(r"[\d/.:\['\"]")
_tokens: dict[str, str] = {}


@lru_cache(maxsize=8)
def _joined(table: tuple[Mask, ...]) -> tuple[re.Pattern[str], Callable[[re.Match[str]], str]]:
    """The table as one alternation, and the replacement of one of its matches."""
    names = [m.name for m in table]

    def replace(match: re.Match[str]) -> str:
        name = names[int(match.lastgroup[1:])]  # type: ignore[index]
        text = match.group()
        if name == KEEP:
            return text
        if name == "num" and 8 <= len(text) <= 10 and unpack(int(text)) is not None:
            return text
        return f"<{name}>"

    return re.compile("|".join(f"(?P<m{i}>{m.pattern})" for i, m in enumerate(table))), replace


_DEFAULT = _joined(MASKS)


def mask(message: str) -> str:
    """The template of a message: variables replaced by ``<time>``, ``<ip>``, ``<num>`` ...

    Idempotent: the table is applied until nothing changes (a placeholder can complete a
    shape such as ``<host>::``), and the result is cut to MAX_TEMPLATE between placeholders.
    """
    if "[subject: " in message:
        return _around_certificate(message)
    if len(message) > _TOKEN_PATH_MAX:
        return mask_whole(message)
    spans = _spans(message)
    if spans is None:
        return mask_whole(message)
    parts, start = [], 0
    for begin, end, kept in spans:
        parts += [_by_tokens(message[start:begin]), kept]
        start = end
    parts.append(_by_tokens(message[start:]))
    masked = "".join(parts)
    if ("'" in masked or '"' in masked) and _QUOTED.search(masked):
        return mask_whole(masked)  # placeholders can make a new quoted value: the next pass
    return masked


def _around_certificate(message: str) -> str:
    """``mask`` of a message with mod_ssl's certificate details (the "cert" row, which spans
    spaces and holds timestamps): the text before and after them masked on its own. Both
    sides see the same thing there in the whole message: the details follow " [" (no row
    ends on a "[" or runs across white space into them) and are followed by "]" (no row
    starts with one). A quote mark anywhere, or a message the table would cut, goes whole
    (checked first: the whole-message path reads only the first MAX_TEMPLATE)."""
    if len(message) > MAX_TEMPLATE or "'" in message or '"' in message:
        return mask_whole(message)
    found = certificate_details(message)  # where the "cert" row matches (its first match)
    if not found:
        return mask_whole(message)
    start, end = found[0]
    if (len(message) - (end - start) > _TOKEN_PATH_MAX or start < 2
            or not message[start - 2].isspace()):
        return mask_whole(message)
    return mask(message[:start]) + "<cert>" + mask(message[end:])


def _spans(message: str) -> list[tuple[int, int, str]] | None:
    """The spaced spans of a message, in order, as (start, end, replacement); None when the
    message must be masked whole."""
    spans = []
    if "'" in message or '"' in message:
        spans += [(m.start(), m.end(), "<str>") for m in _QUOTED.finditer(message)]
        # Text glued to a quoted value ('"x/y""x/y"'), or a quote mark outside every quoted
        # value (one the table may pair differently), is masked in its context, not alone.
        if any(end < len(message) and not message[end].isspace() for _, end, _ in spans):
            return None
        inside = sum(len(_QUOTE_MARK.findall(message, a, b)) for a, b, _ in spans)
        if len(_QUOTE_MARK.findall(message)) != inside:
            return None
    for literal in ("alert number ", "Error ("):
        at = message.find(literal)
        while at >= 0:
            kept = _KEPT_ROW.match(message, at)
            if kept is not None:
                if not _after_space(message, at) or (
                        literal[0] == "a" and not _ends_token(message, kept.end())):
                    return None
                spans.append((at, kept.end(), kept.group()))
            at = message.find(literal, at + 1)
    for status in _STATUS.finditer(message) if _may_have_status(message) else ():
        end = status.end()
        if not _after_space(message, status.start()) or (
                end < len(message) and message[end] not in _STATUS_ENDS):
            return None
        spans.append((status.start(), end, status.group()))
    if ":" in message and _CLOCK.search(message) is not None:
        for time in _times(message):
            end = time.end()
            if not _after_space(message, time.start()) or (
                    end < len(message) and message[end] not in _TIME_ENDS):
                return None
            spans.append((time.start(), end, "<time>"))
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
        return None
    return spans


# Words one of which every STATUS_PATTERN match holds ("rror": Error, error; "tatus": Status,
# status): a substring test per word is much faster than the pattern's search, which starts
# with a \b and so cannot scan for a literal.
_STATUS_WORDS = ("HTTP", "rror", "ERROR", "tatus", "STATUS", "esponse")


def _may_have_status(message: str) -> bool:
    return any(word in message for word in _STATUS_WORDS)


def _after_space(message: str, at: int) -> bool:
    return at == 0 or message[at - 1].isspace()


def _ends_token(message: str, at: int) -> bool:
    return at == len(message) or message[at].isspace() or message[at] == ")"


def _times(message: str) -> list[re.Match[str]]:
    """``_TIMES.finditer(message)``, but searching only near each clock time (most of a
    message holds none, and the table's timestamp rows are slow to try everywhere)."""
    found: list[re.Match[str]] = []
    done = 0
    for clock in _CLOCK.finditer(message):
        if clock.start() < done:
            continue
        time = _TIMES.search(message, max(done, clock.start() - _CLOCK_LEAD))
        if time is None:
            break
        found.append(time)
        done = time.end()
    return found


def mask_whole(message: str, table: tuple[Mask, ...] = MASKS) -> str:
    """``mask`` on the whole message at once (the definition; ``mask`` is a faster path).
    ``table`` takes rows out: tests, and ``UNQUOTED`` for a statement's search terms."""
    pattern, replace = _DEFAULT if table is MASKS else _joined(table)
    template = message[:MAX_TEMPLATE]
    for _ in range(6):
        if "[subject: " in template and not certificate_details(template):
            # No certificate details anywhere: the table without its "cert" row gives the
            # same (the row matches nowhere), and that row is tried at every "[subject: ",
            # each time to the text's end when no "]" closes it (a hostile client's subject).
            reduced, replaced = _joined(_without_certificate(table))
            masked = _cut(reduced.sub(replaced, template))
        else:
            masked = _cut(pattern.sub(replace, template))
        if masked == template:
            break
        template = masked
    return template


@lru_cache(maxsize=8)
def _without_certificate(table: tuple[Mask, ...]) -> tuple[Mask, ...]:
    return tuple(m for m in table if m.name != "cert")


def _by_tokens(message: str) -> str:
    out = []
    for token in message.split(" "):
        masked = _tokens.get(token)
        if masked is None:
            # Every row needs a digit or one of these characters (a word of letters, commas
            # and brackets is never a variable): the table need not be tried on the rest.
            masked = mask_whole(token) if _MAYBE_VARIABLE.search(token) else token
            if len(_tokens) >= _TOKEN_CACHE:
                _tokens.clear()
            _tokens[token] = masked
        out.append(masked)
    return " ".join(out)


def _cut(template: str) -> str:
    if len(template) <= MAX_TEMPLATE:
        return template
    cut = template[:MAX_TEMPLATE]
    opening = cut.rfind("<")
    return cut[:opening] if opening > cut.rfind(">") else cut
