"""Text analysis: tokens that keep whole identifiers and their parts, and the index terms.

``analyze`` is the one function that turns text into index terms: whoosh indexes through it
(kb.whoosh_build) and every query uses it (kb.rank), so both always agree. Pure Python but for
the Porter stemmer, imported from whoosh's ``lang.porter`` (that module alone, not whoosh).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

# A word: letters/digits joined by _ . - ' (SSL3_READ_BYTES, mod_ssl, pass-phrase, httpd.conf).
_WORD = re.compile(r"[0-9A-Za-z]+(?:[_.\-'][0-9A-Za-z]+)*")
_SEP = re.compile(r"[_.\-']")
# Camel-case humps: SSLCertificateFile -> SSL, Certificate, File; TLSv1 -> TLSv1.
_HUMP = re.compile(r"[A-Z]+v\d+|[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+\d*|[A-Z]+\d*|\d+[a-z]*")
MAX_TOKENS = 4096
# English contractions and possessives are one word: "doesn't" is "doesnt" (a stop word, as
# "not" is), "Apache's" and "they're" are "Apache" and "they". Kept apart, "doesn't" gave the
# terms doesn't and doesn: a negation weighed twice as much as the topic ("Pause doesn't
# work" answered by "The make flash command doesn't work" at 0.69). A typographic
# apostrophe (U+2019, as phones, word processors and many FAQ headings write it) is one too.
_CONTRACTION = re.compile(r"([0-9A-Za-z][0-9A-Za-z_.\-]*?)'(t|s|re|ve|ll|d|m)", re.IGNORECASE)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'"})


def tagged_words(text: str) -> Iterator[tuple[str, bool]]:
    """Lower-cased (token, is_plain_word) pairs: each whole identifier, then its joined form
    and its parts. Identifiers and joined forms are not plain words (a stemmer must leave them
    whole); their parts and ordinary words are.

    ``SSL3_READ_BYTES`` gives ``ssl3_read_bytes ssl3readbytes ssl3 read bytes``;
    ``SSLCertificateFile`` gives ``sslcertificatefile ssl certificate file``.
    """
    for count, match in enumerate(_WORD.finditer(text.translate(_APOSTROPHES)), 1):
        tokens = _word_tokens(match.group())
        if count >= MAX_TOKENS:  # the last word counted: itself only, not its parts
            yield tokens[0]
            return
        yield from tokens


@lru_cache(maxsize=32768)
def _word_tokens(word: str) -> tuple[tuple[str, bool], ...]:
    """The tokens of one word (``tagged_words``); words repeat, so each is split once."""
    word = _uncontracted(word)
    lower = word.lower()
    parts = [p for p in _SEP.split(word) if p]
    humps_of = [_humps(p) for p in parts]
    plain = len(parts) == 1 and len(humps_of[0]) == 1 and word.isalpha()
    tokens = [(lower, plain)]
    if len(parts) > 1:
        tokens.append(("".join(parts).lower(), False))
    if not plain:
        tokens += [(hump.lower(), hump.isalpha()) for humps in humps_of for hump in humps
                   if hump.lower() != lower]
    return tuple(tokens)


def _uncontracted(word: str) -> str:
    """``word`` without its contraction or possessive (see _CONTRACTION): n't stays as t."""
    match = _CONTRACTION.fullmatch(word)
    if match is None:
        return word
    base, tail = match.groups()
    if tail.lower() == "t":
        return base + tail if base[-1:].lower() == "n" else word
    return base


def _humps(part: str) -> list[str]:
    return _HUMP.findall(part) if not part.isupper() and not part.islower() else [part]


def normalise(text: str) -> str:
    """Lower case with runs of white space folded to one space (how literal signatures match)."""
    return " ".join(text.lower().split())


# whoosh's English stop list (whoosh.analysis.STOP_WORDS, copied so that a search need not
# import whoosh's analysis package) ...
WHOOSH_STOPS = frozenset(
    "a an and are as at be by can for from have if in is it may not of on or tbd that the "
    "this to us we when will with yet you your".split()
)
# ... and English function words on top: they carry no topic in a question.
EXTRA_STOPS = frozenset(
    "i me my mine myself our ours he she his her they them their what which who whom how "
    "why where there here do does did doing done get gets got getting but so than too very "
    "just should would could about into over after before again any all some such only own "
    "same then once also still now im ive its dont doesnt cant isnt was were been being has "
    "had having am didnt wont wasnt werent arent couldnt shouldnt wouldnt havent hasnt hadnt "
    "aint".split()
)
# ... and the words a question is framed with, not about: "is there a way to", "I want / need
# to", "is it possible", "I tried", "please help", "thanks".
ASKING_STOPS = frozenset(
    "want wants wanted need needs needed way possible able try tries tried trying please "
    "thanks thank help like".split()
)
STOPS = WHOOSH_STOPS | EXTRA_STOPS | ASKING_STOPS
MIN_TERM_CHARS = 2


def analyze(text: str) -> list[str]:
    """The index terms of ``text`` (what a query on it searches for), in order, with repeats.

    Identifiers stay whole next to their parts (kb.text), plain words are stemmed, and stop
    words and one-letter terms are dropped. whoosh indexes through this same function.
    Words never hold white space, so the terms are those of each white-space-separated
    chunk in turn, and a chunk's terms are remembered (log lines repeat their words).
    """
    terms: list[str] = []
    words = 0
    for chunk in text.split():
        chunk_terms, chunk_words = _chunk_terms(chunk)
        words += chunk_words
        if words >= MAX_TOKENS:  # the cut falls in this chunk: count word by word
            return _analyze_words(text)
        terms += chunk_terms
    return terms


@lru_cache(maxsize=16384)
def _chunk_terms(chunk: str) -> tuple[tuple[str, ...], int]:
    """The terms of a chunk without white space, and how many words it holds."""
    terms: list[str] = []
    words = 0
    for match in _WORD.finditer(chunk.translate(_APOSTROPHES)):
        words += 1
        whole, parts = _word_terms(match.group())
        terms += [whole, *parts] if whole else parts
    return tuple(terms), words


def _analyze_words(text: str) -> list[str]:
    terms: list[str] = []
    for count, match in enumerate(_WORD.finditer(text.translate(_APOSTROPHES)), 1):
        whole, parts = _word_terms(match.group())
        if whole:
            terms.append(whole)
        if count >= MAX_TOKENS:  # the last word counted: itself only, not its parts
            break
        terms += parts
    return terms


@lru_cache(maxsize=32768)
def _word_terms(word: str) -> tuple[str, tuple[str, ...]]:
    """The index terms of one word: the whole word's ('' when dropped) and its parts'."""
    terms = [_term(token, plain) for token, plain in _word_tokens(word)]
    return terms[0], tuple(t for t in terms[1:] if t)


def _term(token: str, plain: bool) -> str:
    """A token's index term: stemmed if a plain word; '' for stop words and single letters."""
    if token in STOPS:
        return ""
    term = _stem(token) if plain else token
    return term if len(term) >= MIN_TERM_CHARS and term not in STOPS else ""


@lru_cache(maxsize=50000)
def _stem(word: str) -> str:
    return str(_stemmer()(word))


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    with warnings.catch_warnings():  # whoosh's sources hold escapes newer Pythons warn about
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from whoosh.lang.porter import stem
    return stem
