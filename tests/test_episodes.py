"""kb.episodes.role_of: the outcome table's flags of a line, with its one-search fast path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kb.episodes import PLAIN, Role, outcomes, role_of
from kb.logline import parse_line

FLAGS = ("begins", "announces", "ends", "startup", "final")


def _slow_role(line: str) -> Role:
    """The definition: every outcome the line matches, flags merged."""
    parsed = parse_line(line)
    table = outcomes()
    found = [table.codes[c] for c in parsed.ah_codes if c in table.codes]
    found += [role for literal, role in table.literals if literal in parsed.message]
    found += [role for pattern, role in table.patterns if pattern.search(parsed.message)]
    if not found:
        return PLAIN
    outcome = not parsed.ah_codes or all(c in table.codes for c in parsed.ah_codes)
    return Role(outcome, *(any(getattr(r, f) for r in found) for f in FLAGS))


def _pieces() -> list[str]:
    table = outcomes()
    return ([c for c in table.codes] + [lit for lit, _ in table.literals]
            + ["Action 'start' failed.", "AH02008:", "AH99999:", "SSL Library Error"])


PREFIX = "[Tue Dec 01 07:51:20.279560 2026] [ssl:error] [pid 7:tid 9] "


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_pieces()) | st.text(max_size=12), max_size=5),
       st.booleans())
def test_role_of_equals_its_definition(parts: list[str], prefixed: bool) -> None:
    line = (PREFIX if prefixed else "") + " ".join(parts)
    assert role_of(parse_line(line)) == _slow_role(line)


def test_roles_of_known_lines() -> None:
    start = role_of(parse_line(PREFIX + "AH01964: Connection to child 3 established "
                                        "(server www.example.com:443)"))
    assert start.outcome and start.begins
    assert role_of(parse_line("Action 'start' failed.")).startup
    assert role_of(parse_line(PREFIX + "AH02008: SSL library error 1 in handshake")) == Role(
        outcome=True, announces=True)
    assert role_of(parse_line(PREFIX + "AH00016: Configuration Failed")) == Role(
        outcome=True, ends=True, startup=True, final=True)
    # A cause, not an outcome: no flag.
    assert role_of(parse_line(PREFIX + "AH02565: Certificate and private key x do not "
                                       "match")) is PLAIN
