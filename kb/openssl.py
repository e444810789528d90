"""Decode OpenSSL errors in every form users paste into one (library, reason) pair.

Forms understood (all seen in real logs):

- 1.0/1.1 ``error:14094412:SSL routines:SSL3_READ_BYTES:sslv3 alert bad certificate``
- 3.x     ``error:0A000412:SSL routines::sslv3 alert bad certificate`` (function gone)
- either without its ``error:HEX:`` head, as programs that print the library and reason
  strings write it (``SSL routines::certificate verify failed``): understood when the
  library is one OpenSSL names
- packed codes alone, hex (``0A0000C1``) or decimal (``336109761``, printed by
  ``SSL Library Error: 336027804 ...`` in httpd 2.2 and by libevent); the library sits in bits
  24-31 before 3.0 (ERR_PACK: lib<<24 | func<<12 | reason) and in bits 23-30 since 3.0
  (ERR_LIB_OFFSET 23, reason in the low 23 bits; bit 31 flags a system errno)
- Python's ``[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate``
- pyOpenSSL's ``('SSL routines', 'SSL3_GET_CLIENT_HELLO', 'no shared cipher')``
- ``SSL alert number 42`` (the TLS alert's number)
- X.509 verify results: ``verify error:num=20:...`` and httpd's ``Error (20): ...``

Reasons are compared as lower-case text with folded spaces: the text is the same across
versions while the packed number is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from kb.text import normalise

DATA = Path(__file__).resolve().parent / "data"
SYSTEM_FLAG = 0x80000000


@dataclass(frozen=True)
class OpenSSLError:
    """One decoded OpenSSL error: library short name ("" if unknown) and reason text."""

    lib: str
    reason: str
    code: int | None
    form: str
    text: str


@dataclass(frozen=True)
class _Tables:
    by_code: dict[tuple[int, int], tuple[str, str]]  # (lib number, reason) -> (lib, reason)
    lib_by_name: dict[str, int]  # "ssl routines" / "ssl" -> 20
    lib_short: dict[int, str]  # 20 -> "SSL"
    reasons: frozenset[str]  # every known reason text
    by_symbol: dict[str, str]  # "SSLV3_ALERT_BAD_CERTIFICATE" -> "sslv3 alert bad certificate"
    alerts: dict[int, str]  # 42 -> "sslv3 alert bad certificate"
    verify: dict[int, str]  # 20 -> "unable to get local issuer certificate"


def _rows(name: str) -> list[dict[str, str]]:
    """The rows of a tab-separated table with a header line; ``#`` lines are comments.
    (No quoting in these files, so a plain split is exact, and several times faster than
    the csv module on every start.)"""
    path = DATA / name
    if not path.is_file():
        return []
    lines = [line for line in path.read_text(encoding="utf-8").splitlines()
             if line.strip() and not line.startswith("#")]
    if not lines:
        return []
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"), strict=False)) for line in lines[1:]]


_NOT_SYMBOL = re.compile(r"[^A-Z0-9]+")


def _symbol(reason: str) -> str:
    return _NOT_SYMBOL.sub("_", reason.upper()).strip("_")


@cache
def tables() -> _Tables:
    """The reason, library, alert and verify tables from kb/data (loaded once)."""
    lib_by_name: dict[str, int] = {}
    lib_short: dict[int, str] = {}
    for row in _rows("openssl_libs.tsv"):
        number = int(row["number"])
        lib_short[number] = row["lib"]
        for key in ("lib", "name_1x", "name_3x"):
            if row.get(key):
                lib_by_name[normalise(row[key])] = number
    by_code: dict[tuple[int, int], tuple[str, str]] = {}
    number_of = {short: n for n, short in lib_short.items()}
    for row in _rows("openssl_reasons.tsv"):
        lib = row["lib"]
        if lib in number_of:
            reason = normalise(row["reason"])
            by_code.setdefault((number_of[lib], int(row["reason_code"])), (lib, reason))
    reasons = frozenset(reason for _, reason in by_code.values())
    alerts = {int(r["number"]): normalise(r["openssl_reason"]) for r in _rows("tls_alerts.tsv")}
    verify = {int(r["number"]): normalise(r["text"]) for r in _rows("x509_verify.tsv")}
    by_symbol = {_symbol(reason): reason for reason in reasons}
    return _Tables(by_code, lib_by_name, lib_short, reasons, by_symbol, alerts, verify)


def unpack(code: int, lib_hint: int | None = None) -> tuple[str, str] | None:
    """(library, reason) for a packed error code of any version, or None if unknown."""
    t = tables()
    if code & SYSTEM_FLAG and code <= 0xFFFFFFFF:
        return ("SYS", f"errno {code & 0x7FFFFFFF}")
    old = ((code >> 24) & 0xFF, code & 0xFFF)
    new = ((code >> 23) & 0xFF, code & 0x7FFFFF)
    candidates = [new, old] if (code >> 12) & 0x7FF == 0 else [old, new]
    if lib_hint is not None:
        candidates = [c for c in candidates if c[0] == lib_hint] or candidates
    for key in candidates:
        if key in t.by_code:
            return t.by_code[key]
    return None


_FULL = (
    r"error:(?P<hex>[0-9A-Fa-f]{8}):(?P<lib>[^:\n]{0,60}):(?P<func>[^:\n]{0,80}):"
    # httpd appends " (data)" and " -- hint" (ssl_engine_log.c): they are not the reason.
    r"(?P<reason>(?:(?! -- | \()[^:\n)\]'\"]){0,120})"
)
# Each form with a literal it cannot match without ("" = no such literal: always tried). The
# forms are tried one by one where their literal occurs, and their matches taken left to
# right as one alternation would (an earlier start wins; at one start, the earlier form).
_FORMS: tuple[tuple[str, str], ...] = (
    ("error:", _FULL),
    ("routines:", r"(?<![\w:])(?P<hlib>(?:[A-Za-z0-9-]{1,20} ){0,4}routines):"
                  r"(?P<hfunc>[A-Za-z0-9_]{0,80}):"
                  r"(?P<hreason>(?:(?! -- | \()[^:\n)\]'\"]){1,120})"),
    ("[", r"\[(?P<pylib>[A-Z][A-Z0-9]{1,15}): (?P<pysym>[A-Z][A-Z0-9_]{2,80})\]"),
    ("routines'", r"\(\s*'(?P<tlib>[^'\n]{1,60}routines)'\s*,\s*'[^'\n]{0,80}'\s*,\s*"
                  r"'(?P<treason>[^'\n]{1,120})'\s*\)"),
    ("alert number ", r"alert number (?P<alert>\d{1,3})\b"),
    ("verify error:num=", r"verify error:num=(?P<vnum>\d{1,3})\b"),
    ("Verification: Error (", r"Verification: Error \((?P<vnum2>\d{1,3})\)"),
    ("", r"(?<![\w:.])(?P<dec>\d{8,10})(?=:\d{1,5}:|\s+error:|$|\s)"),
    ("", r"(?<![\w:.\-])(?P<bare>0[0-9A-Fa-f]{7}|[1-9A-Fa-f][0-9A-Fa-f]{7})(?![\w:.\-])"),
)
# ASCII digits, letters and spaces: OpenSSL and httpd print ASCII, and so the log pipe's
# prefilter markers (kb.signals.OPENSSL_MARKERS, on RE2) find every line a form matches
# ("alert number" in other digits, which Python's \d reads, is no OpenSSL error).
_FORM_RES = tuple((literal, re.compile(pattern, re.ASCII)) for literal, pattern in _FORMS)
# A run of 8-10 hex digits before a separator: what the two forms without a literal need
# (a gate: their own lookbehinds check what comes before; one here would keep Python's re
# from its fast scan, and this test runs on every new message). ASCII as the forms are.
_EIGHT = re.compile(r"[0-9A-Fa-f]{8,10}(?![\w.])", re.ASCII)
# whoosh-era and 1.0 builds without error strings print "reason(1042)" (the closing
# parenthesis is outside the reason group of _FULL).
_NUMBERED_REASON = re.compile(r"reason\((\d+)\)?")


def canonical(reason: str) -> str:
    """One spelling per reason: OpenSSL 3.5+ renamed "sslv3 alert X" / "tlsv1 alert X" to
    "ssl/tls alert X"; map the new name back to the one older versions and most logs use."""
    reason = normalise(reason)
    if reason.startswith("ssl/tls alert "):
        rest = reason[len("ssl/tls alert ") :]
        known = tables().reasons
        for old in (f"sslv3 alert {rest}", f"tlsv1 alert {rest}"):
            if old in known:
                return old
    return reason


# mod_ssl's details of a certificate after a verify message (ssl_engine_log.c, ssl_log_cxerror:
# " [subject: DN / issuer: DN / serial: N / notbefore: T / notafter: T]"): the fields of one
# client's certificate, which the client chooses, never OpenSSL's error queue (a serial can
# look like a packed code, a subject can spell any error). Masked as one <cert> (kb.masks).
# The fields, in order ("name: value", separated by " / "), and each value's longest length.
_DETAIL_FIELDS = (("subject", 4000), ("issuer", 4000), ("serial", 200), ("notbefore", 64),
                  ("notafter", 64))


def _details_pattern() -> str:
    """CERT_DETAILS, from _DETAIL_FIELDS: each value but the last runs to the first separator
    after it (an atomic group: nothing to backtrack into, so a hostile line of "[subject: a /
    issuer: " repeated costs time linear in it); the last one runs to the closing "]"."""
    parts = [rf"{name}: (?>(?:(?! / {after}: )[^\]\n]){{0,{longest}}})"
             for (name, longest), (after, _) in zip(_DETAIL_FIELDS, _DETAIL_FIELDS[1:],
                                                   strict=False)]
    name, longest = _DETAIL_FIELDS[-1]
    parts.append(rf"{name}: [^\]\n]{{0,{longest}}}")
    return r"(?<=\[)" + " / ".join(parts) + r"(?=\])"


CERT_DETAILS = _details_pattern()


def certificate_details(text: str) -> list[tuple[int, int]]:
    """(start, end) of each of mod_ssl's certificate details in ``text`` (between the
    brackets): "subject: " after a "[", then its fields in order, each up to the first
    separator after it and as long as CERT_DETAILS allows, the last up to the next "]", with
    no line break: what CERT_DETAILS matches, found with string searches."""
    spans: list[tuple[int, int]] = []
    start = text.find("[subject: ")
    while start >= 0:
        close = text.find("]", start)
        if close < 0:
            break  # no later one has its closing bracket either
        body = start + 1
        line_end = text.find("\n", body, close)
        if line_end < 0 and _fields_fit(text, body + len("subject: "), close):
            spans.append((body, close))
            start = text.find("[subject: ", close)
        else:
            start = text.find("[subject: ", body)
    return spans


def _fields_fit(text: str, at: int, close: int) -> bool:
    """True when the values after a subject's starting at ``at`` come in order before
    ``close``, each no longer than _DETAIL_FIELDS allows."""
    limit = _DETAIL_FIELDS[0][1]
    for name, longest in _DETAIL_FIELDS[1:]:
        separator = f" / {name}: "
        found = text.find(separator, at, close)
        if found < 0 or found - at > limit:
            return False
        at, limit = found + len(separator), longest
    return close - at <= limit


def find_errors(text: str) -> list[OpenSSLError]:
    """Every OpenSSL error, alert and verify result in ``text``, decoded; unknown forms skipped.
    mod_ssl's certificate details (``certificate_details``) are not read."""
    found: list[OpenSSLError] = []
    seen: set[str] = set()
    if "[subject: " in text:
        kept, at = [], 0
        for start, end in certificate_details(text):
            kept.append(text[at:start])
            at = end
        text = "".join(kept) + text[at:]
    for match in _matches(text):
        error = _decode(match)
        if error is None or not error.reason:
            continue
        error = replace(error, reason=canonical(error.reason))
        if error.reason not in seen:
            seen.add(error.reason)
            found.append(error)
    return found


def _matches(text: str) -> list[re.Match[str]]:
    """The matches of every form in ``text``, left to right, none overlapping."""
    eights: list[int] | None = None
    found: list[tuple[int, int, re.Match[str]]] = []
    for order, (literal, pattern) in enumerate(_FORM_RES):
        if literal:
            if literal in text:
                found += [(m.start(), order, m) for m in pattern.finditer(text)]
            continue
        # A form without a literal matches a whole run of 8-10 digits (its lookarounds
        # allow no word character on either side), and _EIGHT finds such a run where it
        # starts: the form is tried at those places only (re's match sees what comes
        # before a position, so its lookbehind reads as in a search of the whole text).
        if eights is None:
            eights = [m.start() for m in _EIGHT.finditer(text)]
        for start in eights:
            m = pattern.match(text, start)
            if m is not None:
                found.append((start, order, m))
    found.sort(key=lambda item: (item[0], item[1]))
    chosen, end = [], 0
    for start, _, match in found:
        if start >= end:
            chosen.append(match)
            end = max(match.end(), start + 1)
    return chosen


def _decode(m: re.Match[str]) -> OpenSSLError | None:
    t = tables()
    span = m.group()
    g: dict[str, str] = {k: v for k, v in m.groupdict().items() if v}
    if g.get("hex", ""):
        return _decode_full(m, span)
    if g.get("hreason", ""):
        return _decode_headless(g["hlib"], g["hreason"], span)
    if g.get("pysym", ""):
        reason = t.by_symbol.get(g.get("pysym", ""))
        return OpenSSLError(g.get("pylib", ""), reason, None, "python", span) if reason else None
    if g.get("treason", ""):
        lib = t.lib_short.get(t.lib_by_name.get(normalise(g.get("tlib", "")), -1), "")
        return OpenSSLError(lib, normalise(g.get("treason", "")), None, "tuple", span)
    if g.get("alert", ""):
        reason = t.alerts.get(int(g["alert"]))
        return OpenSSLError("SSL", reason, None, "alert", span) if reason else None
    number = g.get("vnum", "") or g.get("vnum2", "")
    if number:
        reason = t.verify.get(int(number))
        return OpenSSLError("X509", reason, None, "verify", span) if reason else None
    packed = g.get("dec", "") or g.get("bare", "")
    code = int(packed, 10 if g.get("dec", "") else 16)
    decoded = unpack(code) if code <= 0xFFFFFFFF and not code & SYSTEM_FLAG else None
    if decoded is None and g.get("dec", "") and len(packed) == 8:
        code = int(packed, 16)  # an all-digit hex code such as 14094412
        decoded = unpack(code) if not code & SYSTEM_FLAG else None
    if decoded is None:
        return None
    form = "decimal" if g.get("dec", "") and int(packed) == code else "bare"
    return OpenSSLError(decoded[0], decoded[1], code, form, span)


def _decode_full(m: re.Match[str], span: str) -> OpenSSLError:
    t = tables()
    code = int(m.group("hex"), 16)
    lib_number = t.lib_by_name.get(normalise(m.group("lib")))
    decoded = unpack(code, lib_number)
    reason = normalise(m.group("reason"))
    numbered = _NUMBERED_REASON.fullmatch(reason)
    if (not reason or numbered) and decoded:
        reason = decoded[1]
    lib = decoded[0] if decoded else t.lib_short.get(lib_number or -1, "")
    form = "3.x" if (code >> 12) & 0x7FF == 0 and not m.group("func") else "1.x"
    return OpenSSLError(lib, reason, code, form, span)


def _decode_headless(lib_words: str, reason: str, span: str) -> OpenSSLError | None:
    """A ``LIB routines:FUNC:REASON`` form: the library is the longest run of its last words
    that OpenSSL names (what comes before is the message's own words); without one, no
    OpenSSL error. The reason is taken as written, as in the full form."""
    t = tables()
    words = lib_words.split(" ")
    for start in range(len(words)):
        number = t.lib_by_name.get(normalise(" ".join(words[start:])))
        if number is not None:
            break
    else:
        return None
    return OpenSSLError(t.lib_short.get(number, ""), canonical(reason), None, "text", span)


def is_known_reason(text: str) -> bool:
    """True when ``text`` is exactly an OpenSSL reason string (any library, any version)."""
    return canonical(text) in tables().reasons
