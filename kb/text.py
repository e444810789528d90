"""Tokenising that keeps whole identifiers and their parts (no whoosh here: pure and fast)."""

from __future__ import annotations

import re
from collections.abc import Iterator

# A word: letters/digits joined by _ . - ' (SSL3_READ_BYTES, mod_ssl, pass-phrase, httpd.conf).
_WORD = re.compile(r"[0-9A-Za-z]+(?:[_.\-'][0-9A-Za-z]+)*")
_SEP = re.compile(r"[_.\-']")
# Camel-case humps: SSLCertificateFile -> SSL, Certificate, File; TLSv1 -> TLSv1.
_HUMP = re.compile(r"[A-Z]+v\d+|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+[a-z]*")
MAX_TOKENS = 4096


def tagged_words(text: str) -> Iterator[tuple[str, bool]]:
    """Lower-cased (token, is_plain_word) pairs: each whole identifier, then its joined form
    and its parts. Identifiers and joined forms are not plain words (a stemmer must leave them
    whole); their parts and ordinary words are.

    ``SSL3_READ_BYTES`` gives ``ssl3_read_bytes ssl3readbytes ssl3 read bytes``;
    ``SSLCertificateFile`` gives ``sslcertificatefile ssl certificate file``.
    """
    count = 0
    for match in _WORD.finditer(text):
        word = match.group()
        lower = word.lower()
        parts = [p for p in _SEP.split(word) if p]
        humps_of = [_humps(p) for p in parts]
        plain = len(parts) == 1 and len(humps_of[0]) == 1 and word.isalpha()
        yield lower, plain
        count += 1
        if count >= MAX_TOKENS:
            return
        if len(parts) > 1:
            yield "".join(parts).lower(), False
        if plain:
            continue
        for humps in humps_of:
            for hump in humps:
                if hump.lower() != lower:
                    yield hump.lower(), hump.isalpha()


def _humps(part: str) -> list[str]:
    return _HUMP.findall(part) if not part.isupper() and not part.islower() else [part]


def normalise(text: str) -> str:
    """Lower case with runs of white space folded to one space (how literal signatures match)."""
    return " ".join(text.lower().split())
