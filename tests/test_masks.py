"""The mask table: every row's own example, row by row, and the fast path against the table."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kb.logline import strip_prefix
from kb.masks import MASKS, PLACEHOLDER_RE, PLACEHOLDERS, mask, mask_whole

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


@pytest.mark.parametrize("row", MASKS, ids=[f"{i}-{m.name}" for i, m in enumerate(MASKS)])
def test_each_row_masks_its_example(row: object) -> None:
    assert mask(row.example) == row.expected  # type: ignore[attr-defined]
    assert mask(row.expected) == row.expected  # type: ignore[attr-defined]  # idempotent


@pytest.mark.parametrize("number", range(len(MASKS)), ids=[m.name for m in MASKS])
def test_each_row_is_the_one_that_decides_its_example(number: int) -> None:
    """Without the row its example comes out otherwise: no row is dead weight."""
    row = MASKS[number]
    without = MASKS[:number] + MASKS[number + 1 :]
    assert mask_whole(row.example, without) != row.expected


def test_placeholder_names_come_from_the_table() -> None:
    assert set(PLACEHOLDERS) == {m.name for m in MASKS if m.name != "keep"}
    assert PLACEHOLDER_RE.sub("", "<ip> <host> <num> <uuid>") == "   <uuid>"


def _real_messages() -> list[str]:
    texts = [m.example for m in MASKS]
    for name in ("dev.jsonl",):
        path = SHARED / "eval" / name
        if path.is_file():
            texts += [json.loads(line)["text"] for line in path.read_text().splitlines()]
    for path in (ROOT / "eval").glob("*.jsonl"):
        texts += [json.loads(line)["text"] for line in path.read_text().splitlines()]
    texts += (ROOT / "examples" / "error.log").read_text(encoding="utf-8").splitlines()
    lines = [line for text in texts for line in text.splitlines() if line.strip()]
    return lines + [strip_prefix(line)[2] for line in lines]


def test_the_token_path_is_the_table_on_real_lines() -> None:
    wrong = [m for m in _real_messages() if mask(m) != mask_whole(m)]
    assert not wrong, wrong[:5]


WORDS = st.sampled_from([
    "AH02008:", "SSL", "library", "error", "alert number 48", "Error (20):", "Error (20)",
    "(70007)The", "'a.b c'", "\"x/y\"", "'SSLEngine'", "[Tue Mar 05 10:12:01.123 2024]",
    "Jan 13 18:09:24 2021 GMT", "2024-03-05T10:12:01Z", "26/Nov/2015:14:10:37 +0100",
    "10:12:01", "203.0.113.7:443", "[::1]:8443", "2001:db8::1", "fe80::1%eth0", "/etc/a.crt",
    "C:/wamp/x", "www.example.com:443:0", "javax.net.ssl.X", "0x1f", "03B111D4C2DA",
    "336151570", "12345", "error:0A000418:SSL", "routines::tlsv1", "alert", "unknown", "ca",
    "xalert number 5", "number", "(", ")", "[", "]", ":", "::", "'", '"', ",", "<ip>", "<num>",
    "https://x.example/a?b=1", "verify error:num=20:x", "notbefore:", "[subject:", "CN=a,O=b",
    # mod_ssl's certificate details, whole and in pieces (kb.masks._around_certificate)
    "[subject: CN=a,O=b / issuer: CN=CA 1 / serial: 0A1B / notbefore: Mar  5 10:12:01 2024 "
    "GMT / notafter: Mar  5 10:12:01 2025 GMT]", "[subject: CN=x 10.0.0.1", "/ issuer:",
    "/ serial: 03B111D4C2DA", "/ notbefore: Jan 13 18:09:24 2021 GMT", "/ notafter:", "GMT]",
])


@settings(max_examples=int(os.environ.get("KB_MASK_EXAMPLES", "400")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@example(["[Wed", "Sep", "28", "22:12:29", "2016]"], " ")
@example(["x", "'a", "Error (20)", "b'", "c"], " ")
@given(st.lists(WORDS, max_size=14), st.sampled_from([" ", "  ", "", "\t"]))
def test_the_token_path_is_the_table_on_any_mixture(words: list[str], glue: str) -> None:
    message = glue.join(words)
    assert mask(message) == mask_whole(message)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aAb1 :./'\"[]()-_<>@%0fx")), max_size=60))
def test_the_token_path_is_the_table_on_punctuation(message: str) -> None:
    assert mask(message) == mask_whole(message)


def test_certificate_details_are_looked_for_in_what_the_table_reads(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A long message that opens certificate details and never closes them (a client's URI
    can hold "[subject: " many times) is not searched for them past MAX_TEMPLATE (the row's
    lazy fields once backtracked over all of it: 13 s for a 15 KB line, found by a review),
    since the whole-message path reads only the first MAX_TEMPLATE characters anyway; and
    where the table finds none, it does without its "cert" row (which is tried at every
    "[subject: ", each time to the end of an unclosed one)."""
    import kb.masks as masks

    searched: list[int] = []
    finder = masks.certificate_details

    def spy(text: str) -> list[tuple[int, int]]:
        searched.append(len(text))
        return finder(text)

    monkeypatch.setattr(masks, "certificate_details", spy)
    piece = "[subject: CN=a / issuer: CN=b / serial: 1 / notbefore: x "
    for message in ("GET /" + piece * 300, "expired " + piece + "/ notafter: y]"):
        assert mask(message) == mask_whole(message)
    assert searched and max(searched) <= masks.MAX_TEMPLATE
    monkeypatch.undo()
    hostile = "[subject: a / issuer: " * 90  # no "]": details nowhere, row left out
    full = masks._joined(masks.MASKS)  # noqa: SLF001 - the definition, with the row
    assert mask_whole(hostile) == masks._cut(full[0].sub(full[1], hostile))  # noqa: SLF001


@pytest.mark.parametrize(("message", "template"), [
    ("Error 429 on youtube", "Error 429 on youtube"),
    ("GET / HTTP/1.1 403 after 12 ms", "GET <path> HTTP/1.1 403 after <num> ms"),
    ("upstream said status code 502, retry 3", "upstream said status code 502, retry <num>"),
    ("SSL handshake failed Error code 525 Ray ID 4", "SSL handshake failed Error code 525 Ray ID "
     "<num>"),
    # not a status: an address, a time, a count after an unrelated word, four digits
    ("error 127.0.0.1 refused", "error <ip> refused"),
    ("status 10:12:01", "status <num>:<num>:<num>"),
    ("retried 429 times", "retried <num> times"),
    ("Error 4290 at byte 7", "Error <num> at byte <num>"),
    ("exited with error code 1", "exited with error code <num>"),
])
def test_an_http_status_after_its_word_is_the_message(message: str, template: str) -> None:
    assert mask(message) == mask_whole(message) == template
