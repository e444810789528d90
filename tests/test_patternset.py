"""Signature matching at scale (issue 17): keyed literal signatures (looked up by their inner
words, compiled one by one when a line names them) give exactly what one RE2 set of every
pattern gives, on hostile separators, case folding and invalid code points."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from kb import KnowledgeBase
from kb.records import SignatureKind, SignatureRecord
from kb.regexguard import KeyIndex, PatternSet
from kb.signals import SignalTable, literal_regex
from kb.text import normalise

WORDS = ["no", "shared", "cipher", "Key", "values", "mismatch", "SSL3_GET", "ſession",
         "ticket", "AH02565", "ünïcode", "x", "certificate", "verify", "failed", "k", "s",
         "Kelvin", "straße", "a.b", "(13)", "denied:"]
# White space RE2 knows and does not, and a line end (no signature matches across one).
SEPARATORS = [" ", "  ", "\t", "\x0c", "\r", "\n", "\u00a0", "\u2003", "\x0b", " \t "]


def _variants(word: str, rng: random.Random) -> str:
    swaps = {"k": "\u212a", "K": "\u212a", "s": "\u017f", "ss": "\u00df"}
    out = word.upper() if rng.random() < 0.3 else word
    for old, new in swaps.items():
        if old in out and rng.random() < 0.3:
            out = out.replace(old, new, 1)
    return out


def test_a_small_keyed_set_becomes_one_set_after_some_texts() -> None:
    texts = [f"alpha {w} gamma delta" for w in WORDS]
    keyed, _, plain = _sets(texts)
    small = PatternSet([literal_regex(t) for t in texts], list, keyed._state[0],
                       lambda i: normalise(texts[i]))
    assert small._state[0].keys
    lines = [f"x Alpha {w}\tgamma  delta y" for w in WORDS] * 30
    for line in lines:
        assert small.match(line) == plain.match(line), line
    assert not small._state[0].keys and small._matched > PatternSet.WHOLE_AFTER


def _sets(texts: list[str]) -> tuple[PatternSet, PatternSet, PatternSet]:
    """Keyed and verified by substring where it can, keyed and verified by RE2, one set."""
    table = SignalTable([], [], [], [], [], [], {}, [], {})
    for text in texts:
        table._add(0, SignatureRecord(SignatureKind.LITERAL, text), "")
    table._choose_keys()
    regexes = [literal_regex(t) for t in texts]
    assert regexes == table.regexes
    keys = KeyIndex.from_data(table.keys)
    return (PatternSet(regexes, list, keys, lambda i: normalise(texts[i]), keyed_from=0),
            PatternSet(regexes, list, keys, keyed_from=0), PatternSet(regexes, list))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**9))
def test_keyed_patterns_match_as_one_set(seed: int) -> None:
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 5)))
             for _ in range(rng.randint(1, 30))]
    keyed, compiled, plain = _sets(texts)
    for _ in range(10):
        source = rng.choice(texts).split(" ")
        words = [_variants(w, rng) for w in source] + [rng.choice(WORDS) for _ in range(3)]
        rng.shuffle(words) if rng.random() < 0.3 else None
        line = rng.choice(["", "x", "pre"]) + "".join(
            w + rng.choice(SEPARATORS) for w in words) + rng.choice(["", "\udcff", "post"])
        assert keyed.match(line) == compiled.match(line) == plain.match(line), line


def test_keyed_matching_agrees_on_the_shipped_faq(shipped: KnowledgeBase) -> None:
    table = shipped.signals._table
    keys = KeyIndex.from_data(table.keys)
    assert len(keys.unkeyed) < len(table.regexes) // 2
    keyed = PatternSet(table.regexes, list, keys, lambda i: normalise(table.texts[i]),
                       keyed_from=0)
    plain = PatternSet(table.regexes, list)
    lines = [x for e in shipped.entries() for x in (*e.examples, e.title, *e.questions)]
    lines += [s.text for e in shipped.entries() for s in e.signatures]
    for text in lines:
        for line in text.splitlines() or [""]:
            assert keyed.match(line) == plain.match(line) == shipped.signals.line_hits(line)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["", "a", "b b", "c", "d e"]), max_size=12),
                min_size=1, max_size=4))
def test_joined_key_indexes_are_the_index_of_the_joined_keys(parts: list[list[str]]) -> None:
    joined = KeyIndex.joined([KeyIndex.of(p) for p in parts], [len(p) for p in parts])
    assert joined.as_data() == KeyIndex.of([k for p in parts for k in p]).as_data()


# -- necessary literals: the prefilter finds a regex signature by what its matches hold ------

def test_necessary_literals_of_small_patterns() -> None:
    from kb.regexguard import necessary_literals

    assert necessary_literals(r"AH01909: .*does NOT include an ID") == [
        "does NOT include an ID"]
    assert necessary_literals(r"(?:foo bar|bazzz) x") == ["foo bar", "bazzz"]
    assert necessary_literals(r"(?:foo bar|b) x") is None  # one branch holds too little
    assert necessary_literals(r"x(?:abcd)?y") is None  # an optional group is not needed
    assert necessary_literals(r"(?:abcd)+") == ["abcd"]
    assert necessary_literals(r"[[:alpha:]]abcd") is None  # RE2's class: not Python's
    assert necessary_literals(r"(") is None


def _regex_signatures() -> list[str]:
    kb = KnowledgeBase.default(semantic=False)
    return [p.regex for p in kb.signals.patterns
            if p.signature.kind is SignatureKind.REGEX]


REGEXES = _regex_signatures()


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_match_of_a_regex_signature_holds_one_of_its_literals(data: st.DataObject
                                                                     ) -> None:
    from kb.regexguard import necessary_literals

    pattern = data.draw(st.sampled_from(REGEXES))
    atoms = necessary_literals(pattern)
    if atoms is None:
        return
    text = data.draw(st.from_regex(pattern))
    assert any(atom.lower() in text.lower() for atom in atoms), (pattern, atoms, text)


def test_the_prefilter_is_made_once_from_atoms_kept_in_the_cache(shipped: KnowledgeBase) -> None:
    # Every diagnose used to read each regex signature with Python's parser again (~1 ms
    # each): a program calling diagnose per batch paid it every call.
    from kb.regexguard import necessary_literals

    first, second = shipped.diagnoser(), shipped.diagnoser()
    assert first._scanners[0] is second._scanners[0]
    table = shipped.searcher.signals._table
    regex = SignatureKind.REGEX.value
    assert any(kind == regex for kind in table.kinds)
    assert table.atoms == [necessary_literals(text) if kind == regex else None
                           for kind, text in zip(table.kinds, table.texts, strict=True)]
