"""Log-line understanding: prefixes, httpd AH codes, OpenSSL errors and the masked template.

``parse(text)`` takes one line, a multi-line excerpt or a question and returns a ``Parsed``
with one ``ParsedLine`` per non-empty line and the signals of all of them together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

from kb.levels import ERROR_LEVELS, QUIET_LEVELS
from kb.masks import mask
from kb.memo import MAX_TEXT, Recent
from kb.openssl import OpenSSLError, find_errors
from kb.shapes import Prefix, Shape, all_shapes

MAX_LINE = 16384  # characters of one line that are looked at; the rest is dropped
MAX_LINES = 200  # lines of one excerpt
AH_RE = re.compile(r"\bAH(\d{5})\b")
# AH_RE without its leading \b, which keeps Python's re from scanning for the literal "AH"
# (a 4x faster search); ah_numbers checks the boundary itself.
_AH_AT = re.compile(r"AH(\d{5})\b")
SOURCE_TAG = re.compile(r"^[\w.-]+\.c\(\d+\): ")
# Words that make a line look like an error (for --unmatched; a line of plain words without
# them may be a question). The log pipe's error scanner is made from the same list.
ERROR_WORDS = (
    "error", "errors", "failed", "failure", "fail", "unable", "cannot", "can't", "could not",
    "couldn't", "refused", "denied", "invalid", "mismatch", "expired", "not match", "does not",
    "no such", "segmentation fault", "exception", "fatal", "warning", "problem", "bad", "wrong",
    "too small", "too weak", "unknown", "unsupported",
)
_ERROR_WORDS = re.compile(r"\b(?:" + "|".join(ERROR_WORDS) + r")\b", re.IGNORECASE)
# A question: a question word first, or a question mark closing a sentence (after a word, then
# white space or the end; httpd's "!?" and a URL's "?q=" are not).
_QUESTION = re.compile(
    r"^\s*(?:how|what|why|where|when|which|who|help|explain|tell|list|show)\b|\w\?(?:\s|$)",
    re.IGNORECASE,
)
_LOG_PUNCTUATION = re.compile(r"[\[\]{}<>=\\|]|::|\w:\S|:\s*$|\b[A-Z][A-Z0-9]*_[A-Z0-9_]{3,}\b")
# First-person words of a question. Case matters for "us": "C=US" in a certificate's subject
# is a country, not a person.
_PERSON = re.compile(r"\b(?:[Ii]|[Ii]'m|[Ii]'ve|[Mm]y|[Mm]e|[Ww]e|[Oo]ur|us)\b")
# A severity label opening the text, as tools print it: "ERROR: ...", "SEVERE: ...",
# "[WARN] ...", "ERROR:root:..." (Python logging), "Error: ..." (Node, Go).
_SEVERITY_START = re.compile(
    r"^\s*\[?(?:error|err|fatal|warning|warn|severe|critical|crit|alert|emerg|panic)\b\]?:?",
    re.IGNORECASE,
)
_KEYWORDS = re.compile(r"[A-Za-z][A-Za-z0-9-]*(?: [A-Za-z][A-Za-z0-9-]*){0,5}")
# What makes a statement in words report a problem: an error word, a negation ("doesn't
# start", "no listening sockets"), or a word for something going wrong. Routine output that
# people paste around their problem ("Protocol  : TLSv1.3", "Certificate chain", "Main PID:
# 784 (httpd)", "ALPN: curl offers h2") says none of these.
_PROBLEM_WORDS = re.compile(
    r"\b(?:not|no|never|none|without|nothing)\b|n't\b|\b(?:hang(?:s|ing)?|hung|crash(?:es|ed|ing)?"
    r"|freez(?:es|ing)|froze|stuck|slow|time[sd]? ?out|timeout|missing|broken|reject(?:s|ed)?"
    r"|abort(?:s|ed)?|reset|lost|ignor(?:e|es|ed)|leak(?:s|ing)?|warn(?:s|ed)?|die[sd]?|kill(?:s|ed)?"
    r"|drop(?:s|ped)|disappear(?:s|ed)?|complain(?:s|ed)?|instead|still|again|only|wrong)\b",
    re.IGNORECASE,
)


class Kind(StrEnum):
    """What the user gave: log text, a question, or plain words that could be either."""

    LOG = "log"  # log structure: a prefix, a code, an OpenSSL error, log punctuation
    QUESTION = "question"  # a question or a few keywords
    TEXT = "text"  # words without a question's shape ("server doesn't start if ...")


@dataclass(slots=True)
class ParsedLine:
    """One line: its prefix fields, message, codes, OpenSSL errors and template."""

    raw: str
    shapes: list[str]
    fields: dict[str, str]
    message: str
    ah_codes: list[str]
    openssl: list[OpenSSLError]
    template: str

    @property
    def level(self) -> str:
        """The log level, lower case, '' when the line has none."""
        return self.fields.get("level", "").lower()

    @property
    def module(self) -> str:
        """The httpd module (``ssl``, ``core``), '' when the line has none."""
        return self.fields.get("module", "").lower()

    def as_json(self) -> dict[str, object]:
        """A JSON-ready view for ``kb explain``."""
        return {
            "shapes": self.shapes,
            "fields": self.fields,
            "message": self.message,
            "ah_codes": self.ah_codes,
            "openssl": [
                {"lib": e.lib, "reason": e.reason, "form": e.form, "code": e.code}
                for e in self.openssl
            ],
            "template": self.template,
        }


@dataclass(slots=True)
class Parsed:
    """A whole input: its lines, its kind and the signals of all lines together."""

    text: str
    kind: Kind
    lines: list[ParsedLine] = field(default_factory=list)
    # Of all lines together, made with the object: every AH code in order of appearance
    # without repeats, every decoded OpenSSL error (first occurrence of each reason), and
    # those reasons (lower case).
    ah_codes: list[str] = field(init=False)
    openssl: list[OpenSSLError] = field(init=False)
    reasons: list[str] = field(init=False)

    def __post_init__(self) -> None:
        if len(self.lines) == 1:
            line = self.lines[0]
            self.ah_codes, self.openssl = line.ah_codes, line.openssl
        else:
            self.ah_codes = list(dict.fromkeys(c for ln in self.lines for c in ln.ah_codes))
            seen: dict[str, OpenSSLError] = {}
            for ln in self.lines:
                for error in ln.openssl:
                    seen.setdefault(error.reason, error)
            self.openssl = list(seen.values())
        self.reasons = [e.reason for e in self.openssl]

    @property
    def message(self) -> str:
        """The messages of all lines, prefixes removed, one per line."""
        return "\n".join(line.message for line in self.lines)

    def as_json(self) -> dict[str, object]:
        """A JSON-ready view for ``kb explain``."""
        return {"kind": self.kind.value, "lines": [line.as_json() for line in self.lines]}


@cache
def _shapes() -> tuple[Shape, ...]:
    return tuple(all_shapes())


def strip_prefix(line: str) -> tuple[list[str], dict[str, str], str]:
    """(shape names, fields, message): peel every recognised prefix off ``line``."""
    names: list[str] = []
    fields: dict[str, str] = {}
    message = line
    for _ in range(3):  # syslog around apache around nothing: never more than this
        found = _first_match(message)
        if found is None:
            break
        shape, prefix = found
        names.append(prefix.shape)
        if fields:
            for key, value in prefix.fields.items():
                fields.setdefault(key, value)
        else:  # the outermost prefix (its dict is this line's own)
            fields = prefix.fields
        message = prefix.message
        if not shape.wraps:
            break
    return names, fields, peel_source_tag(message, fields)


def peel_source_tag(message: str, fields: dict[str, str]) -> str:
    """``message`` without a leading ``ssl_engine_io.c(1234): `` source tag, which goes to
    ``fields["source"]`` unless the prefix named one already."""
    if ".c(" not in message:
        return message
    tag = SOURCE_TAG.match(message)
    if tag is None:
        return message
    fields.setdefault("source", tag.group()[:-2])
    return message[tag.end() :]


def _first_match(line: str) -> tuple[Shape, Prefix] | None:
    for shape in _shapes():
        prefix = shape.match(line)
        if prefix is not None:
            return shape, prefix
    return None


def parse_line(line: str, template: bool = True) -> ParsedLine:
    """Understand one line (cut to MAX_LINE characters). ``template=False`` may leave the
    template empty and the OpenSSL errors unread (when the message is not remembered with
    them): for a reader that reads neither (the log pipe's outcome lines, which no prefilter
    scanner picked: none holds an OpenSSL error), since masking and decoding are most of the
    cost of a new message."""
    line = line[:MAX_LINE]
    return line_of(line, *strip_prefix(line), template=template)


def line_of(line: str, shapes: list[str], fields: dict[str, str], message: str,
            template: bool = True) -> ParsedLine:
    """The ParsedLine of a line (cut to MAX_LINE) whose prefix ``strip_prefix`` has peeled
    (``template`` as for ``parse_line``)."""
    stripped, codes, errors, masked = understand_message(message, template)
    return ParsedLine(line, shapes, fields, stripped, list(codes), list(errors), masked)


def understand_message(message: str, template: bool = True
                       ) -> tuple[str, tuple[str, ...], tuple[OpenSSLError, ...], str]:
    """(message stripped, AH codes, OpenSSL errors, template) of a message: a pure function
    of the message, remembered (kb.memo) for about the last MESSAGE_CACHE messages of at
    most MAX_TEXT characters (in a log the same message comes back under ever new times,
    pids and clients). With ``template`` False a message is masked and its OpenSSL errors
    decoded only if they were before (else its template is "" and its errors ())."""
    if len(message) > MAX_TEXT:  # not remembered
        if not template:
            return message.strip(), _codes(message), (), ""
        stripped, codes, errors = _parts(message)
        return stripped, codes, errors, mask(stripped)
    known = _messages.get(message)
    if known is not None and known[3] is not None:
        return known  # type: ignore[return-value]  # its template and errors are set
    if not template:
        if known is None:
            known = (message.strip(), _codes(message), None, None)
            _messages.put(message, known)
        return known[0], known[1], known[2] or (), ""
    if known is None:
        stripped, codes, errors = _parts(message)
    else:
        stripped, codes = known[0], known[1]
        errors = known[2] if known[2] is not None else tuple(find_errors(message))
    masked = (stripped, codes, errors, mask(stripped))
    _messages.put(message, masked)
    return masked


def _parts(message: str) -> tuple[str, tuple[str, ...], tuple[OpenSSLError, ...]]:
    """(message stripped, AH codes, OpenSSL errors) of a message."""
    return message.strip(), _codes(message), tuple(find_errors(message))


def _codes(message: str) -> tuple[str, ...]:
    """The AH codes of a message, in order, each once."""
    found = ah_numbers(message)
    return ("AH" + found[0],) if len(found) == 1 else tuple(dict.fromkeys("AH" + c for c in found))


def ah_numbers(text: str) -> list[str]:
    """The five digits of every AH code in ``text``, in order: ``AH_RE.findall(text)``."""
    if "AH" not in text:
        return []
    return [m.group(1) for m in _AH_AT.finditer(text)
            if not m.start() or not _is_word(text[m.start() - 1])]


def _is_word(char: str) -> bool:
    """What ``\\w`` matches in a str pattern (``\\b``'s word characters)."""
    return char.isalnum() or char == "_"


MESSAGE_CACHE = 16384  # ~9 MB when full of typical messages (~550 bytes each), ~20 MB at most
# (stripped, codes, OpenSSL errors or None: not decoded yet, template or None: not masked yet)
_messages: Recent[str, tuple[str, tuple[str, ...], tuple[OpenSSLError, ...] | None,
                             str | None]] = Recent(MESSAGE_CACHE)


def parse(text: str) -> Parsed:
    """Understand a line, an excerpt or a question."""
    if "\n" not in text and "\r" not in text:  # one line: the log pipe's case
        lines = [parse_line(text)] if text.strip() else []
        return Parsed(text=text, kind=guess_kind(text, lines), lines=lines)
    unified = text.replace("\r\n", "\n").replace("\r", "\n")
    raw_lines = [ln for ln in unified.split("\n") if ln.strip()]
    return joined(text, [parse_line(ln) for ln in raw_lines[:MAX_LINES]])


def joined(text: str, lines: list[ParsedLine]) -> Parsed:
    """The input made of these parsed lines (``text`` is all of them, as given)."""
    return Parsed(text=text, kind=guess_kind(text, lines), lines=lines)


def guess_kind(text: str, lines: list[ParsedLine]) -> Kind:
    """LOG for text with log structure, QUESTION for a question or a few keywords, TEXT for
    the rest (pasted tool output such as "no listening sockets available, shutting down" and
    problem descriptions such as "server doesn't start if the key has a pass phrase" look
    alike, so ranking treats TEXT like a question but keeps exact signals at full weight)."""
    if any(line.shapes or line.ah_codes or line.openssl for line in lines) or len(lines) > 1:
        return Kind.LOG
    if _SEVERITY_START.match(text) and not text.rstrip().endswith("?"):
        return Kind.LOG
    if _QUESTION.search(text) or _PERSON.search(text):
        return Kind.QUESTION
    if _KEYWORDS.fullmatch(text.strip()) and not _ERROR_WORDS.search(text):
        return Kind.QUESTION
    if _LOG_PUNCTUATION.search(text):
        return Kind.LOG
    return Kind.TEXT


# A tool's output field: a short label, then a colon or a column gap (three spaces or a tab:
# no sentence has one), then a value ("Protocol  : TLSv1.3", "Main PID: 784 (httpd)", "ALPN:
# curl offers h2,http/1.1", "Server key size      RSA 2048 bits"), indented or not (openssl
# prints its fields four or eight spaces in); or a banner line of dashes.
_FIELD = re.compile(r"^\s*+\W{0,3}[\w][\w .()/-]{0,30}?(?:\s*+:(?:\s|$)|(?: {3,}+|\t)\S)"
                    r"|^\s*-{3,}")  # (possessive: a long run of blanks is read once)


def looks_like_output(text: str, known_words: int) -> bool:
    """True for a line shaped like a tool's routine output rather than a sentence: a
    ``Label: value`` field or a banner, or at most three words the FAQ knows."""
    return known_words <= 3 or _FIELD.match(text) is not None


def says_what_is_wrong(text: str) -> bool:
    """True when words say something is wrong: an error word, a negation or a word for a
    failure (see ``_PROBLEM_WORDS``). A statement without any is routine output."""
    return _ERROR_WORDS.search(text) is not None or _PROBLEM_WORDS.search(text) is not None


# "not found", "not available": what an error message says where it holds no error word.
_NOT_THERE = re.compile(r"\bnot (?:found|available|allowed|permitted|supported|installed|"
                        r"recognized|recognised|loaded|trusted|verified)\b", re.IGNORECASE)


def names_an_error(text: str) -> bool:
    """True when words name an error: an error word (ERROR_WORDS) or "not found" and the like.
    Stricter than ``says_what_is_wrong``: "update-reset" and "only" are not errors."""
    return _ERROR_WORDS.search(text) is not None or _NOT_THERE.search(text) is not None


def is_keywords(text: str) -> bool:
    """True for a few plain words without a question word, mark or person ("certificate
    chain"): what ``guess_kind`` takes for a keyword question."""
    return (_KEYWORDS.fullmatch(text.strip()) is not None and _QUESTION.search(text) is None
            and _PERSON.search(text) is None)


def looks_like_error(line: ParsedLine) -> bool:
    """True for lines at error level or worse, or with error words (for ``--unmatched``)."""
    if line.level in ERROR_LEVELS:
        return True
    if line.level in QUIET_LEVELS:
        return False
    return bool(line.openssl) or _ERROR_WORDS.search(line.message) is not None
