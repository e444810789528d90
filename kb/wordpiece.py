"""BERT's uncased WordPiece tokenizer in plain Python (what all-MiniLM-L6-v2 was trained with).

HuggingFace's ``BertTokenizer`` with ``do_lower_case``: clean the text (control characters
dropped, white space unified), put spaces around CJK ideographs, lower-case and strip accents,
split on white space and punctuation, then cut every word into the longest vocabulary pieces
(``##`` marks a piece inside a word; a word that cannot be cut is ``[UNK]``). The vocabulary
(kb/data/minilm-vocab.txt, 30,522 pieces) is the model's own ``vocab.txt`` (Apache-2.0, from
sentence-transformers/all-MiniLM-L6-v2). Written here so the semantic extra needs neither
``tokenizers`` nor ``transformers``; tests/test_semantic.py checks it on real text.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources

MAX_WORD_CHARS = 100  # longer words are [UNK], as in BERT


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, int]:
    """The model's vocabulary: piece -> id."""
    text = resources.files("kb.data").joinpath("minilm-vocab.txt").read_text(encoding="utf-8")
    return {piece: n for n, piece in enumerate(text.split("\n")) if piece}


def _is_punctuation(char: str) -> bool:
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(code: int) -> bool:
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x20000 <= code <= 0x2A6DF
            or 0x2A700 <= code <= 0x2B73F or 0x2B740 <= code <= 0x2B81F
            or 0x2B820 <= code <= 0x2CEAF or 0xF900 <= code <= 0xFAFF
            or 0x2F800 <= code <= 0x2FA1F)


def basic_tokens(text: str) -> list[str]:
    """Lower-cased, accent-free words and punctuation marks."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code == 0 or code == 0xFFFD:
            continue
        if char in " \t\n\r" or unicodedata.category(char) == "Zs":
            out.append(" ")
        elif unicodedata.category(char).startswith("C"):
            continue
        elif _is_cjk(code):
            out.append(f" {char} ")
        else:
            out.append(char)
    words: list[str] = []
    for word in "".join(out).lower().split():
        word = "".join(c for c in unicodedata.normalize("NFD", word)
                       if unicodedata.category(c) != "Mn")
        current = ""
        for char in word:
            if _is_punctuation(char):
                if current:
                    words.append(current)
                words.append(char)
                current = ""
            else:
                current += char
        if current:
            words.append(current)
    return words


@lru_cache(maxsize=32768)
def _pieces(word: str) -> tuple[int, ...]:
    vocab = vocabulary()
    if len(word) > MAX_WORD_CHARS:
        return (vocab["[UNK]"],)
    ids: list[int] = []
    start = 0
    while start < len(word):
        end = len(word)
        found = None
        while start < end:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                found = vocab[piece]
                break
            end -= 1
        if found is None:
            return (vocab["[UNK]"],)
        ids.append(found)
        start = end
    return tuple(ids)


def encode(text: str, max_tokens: int = 256) -> list[int]:
    """``[CLS]`` + the text's piece ids + ``[SEP]``, at most ``max_tokens`` in all."""
    vocab = vocabulary()
    ids: list[int] = []
    for word in basic_tokens(text):
        ids.extend(_pieces(word))
        if len(ids) >= max_tokens - 2:
            break
    return [vocab["[CLS]"], *ids[: max_tokens - 2], vocab["[SEP]"]]
