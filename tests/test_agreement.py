"""One parse per line: what ``diagnose`` reports for a line is what ``search`` answers for it.

The divergence reproducers of the architecture review (order-dependent answers, packed-only
OpenSSL errors dropped, ``reason(1042)``), the agreement property over every real line the
project has, shuffled logs, generated line mixtures, and the bounded, mergeable Diagnosis.
"""

from __future__ import annotations

import json
import pickle
import random
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import CONFIDENT, Diagnosis, Entry, KnowledgeBase, Signature, SignatureKind, Source
from kb.diagnose import MAX_VARIANTS
from kb.logline import Kind, parse
from kb.openssl import find_errors

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
LAB = SHARED / "logs" / "apache-2.4.71-lab"
PREFIX = ("[Tue Mar 05 10:12:0{s}.123456 2024] [ssl:info] [pid {pid}:tid 7] "
          "[client 203.0.113.9:5{s}] ")


def _entry(entry_id: str, *signatures: str) -> Entry:
    return Entry(id=entry_id, title=f"What is {entry_id}?", answer=f"It is {entry_id}.",
                 signatures=tuple(Signature(text=s) for s in signatures),
                 source=Source(file="t.md", line=1))


def _problems(diagnosis: Diagnosis) -> Counter[tuple[str, str]]:
    return Counter({(p.entry.id, p.template): p.count for p in diagnosis.problems})


def _alone(kb: KnowledgeBase, line: str) -> str | None:
    """The entry diagnose reports for a log of this one line (None: silent)."""
    problems = kb.diagnose([line]).problems
    assert len(problems) <= 1, problems
    return problems[0].entry.id if problems else None


def _confident(kb: KnowledgeBase, line: str) -> str | None:
    hits = kb.search(line, limit=1)
    return hits[0].entry.id if hits and hits[0].confidence >= CONFIDENT else None


# -- the review's reproducers ---------------------------------------------------------------


def test_lines_differing_only_in_an_openssl_code_keep_their_own_answers() -> None:
    # Before: both lines had one digit-free key, so the first one seen answered for both and
    # diagnose([A, B]) != diagnose([B, A]).
    kb = KnowledgeBase.from_entries([
        _entry("handshake-generic", "AH02008: SSL library error"),
        _entry("alert-bad-certificate", "sslv3 alert bad certificate"),
    ])
    a = PREFIX.format(s=1, pid=1) + ("AH02008: SSL library error 1 in handshake (server "
                                     "x.example:443) error:0A000086:SSL routines::")
    b = PREFIX.format(s=2, pid=2) + ("AH02008: SSL library error 1 in handshake (server "
                                     "x.example:443) error:0A000412:SSL routines::")
    assert _confident(kb, a) == "handshake-generic"
    assert _confident(kb, b) == "alert-bad-certificate"
    assert _problems(kb.diagnose([a, b])) == _problems(kb.diagnose([b, a]))
    assert {p.entry.id for p in kb.diagnose([a, b]).problems} == {
        "handshake-generic", "alert-bad-certificate"}


def test_a_backend_line_is_not_a_client_line() -> None:
    # httpd tags a line about mod_proxy's backend connection [remote ...] and one about a
    # client [client ...]; the same message means a refused backend or client certificate.
    def side(entry_id: str, peer: str) -> Entry:
        return Entry(id=entry_id, title=f"What is {entry_id}?", answer=f"It is {entry_id}.",
                     signatures=(Signature(kind=SignatureKind.REGEX, peer=peer,
                                           text=r"Certificate Verification: Error \(\d+\)"),),
                     source=Source(file="t.md", line=1))

    kb = KnowledgeBase.from_entries([side("client-side", "client"),
                                     side("backend-side", "remote")])
    message = "AH02039: Certificate Verification: Error (18): self-signed certificate"
    head = "[Wed Dec 02 15:43:44.652231 2026] [ssl:error] [pid 21879:tid 21923] "
    client, remote = head + "[client 127.0.0.1:59026] " + message, head + (
        "[remote 127.0.0.1:8443] " + message)
    assert _confident(kb, client) == _alone(kb, client) == "client-side"
    assert _confident(kb, remote) == _alone(kb, remote) == "backend-side"
    assert _confident(kb, message) == "client-side"  # no tag: not a backend's line
    both = _problems(kb.diagnose([client, remote]))
    assert both == _problems(kb.diagnose([remote, client]))
    assert {entry_id for entry_id, _ in both} == {"client-side", "backend-side"}


@pytest.mark.parametrize("line", [
    "[Mon Jun 14 09:12:33 2010] [info] SSL Library Error: 336151570",
    "[Mon Jun 14 09:12:33.1 2010] [ssl:info] [pid 5] SSL Library Error: error:0A000412:SSL "
    "routines::",
])
def test_packed_only_openssl_errors_reach_diagnose(shipped: KnowledgeBase, line: str) -> None:
    assert _confident(shipped, line) == "alert-bad-certificate"
    assert _alone(shipped, line) == "alert-bad-certificate"


def test_a_numbered_reason_decodes() -> None:
    (error,) = find_errors("error:14094412:lib(20):func(148):reason(1042)")
    assert error.reason == "sslv3 alert bad certificate"


# -- agreement on every real line -----------------------------------------------------------


def _case_lines() -> list[str]:
    texts: list[str] = []
    for path in [SHARED / "eval" / "dev.jsonl", *sorted((ROOT / "eval").glob("*.jsonl"))]:
        if path.is_file():
            texts += [json.loads(line)["text"] for line in path.read_text().splitlines()]
    for path in [ROOT / "examples" / "error.log", LAB / "error.log",
                 LAB / "startup-stderr.txt"]:
        if path.is_file():
            texts += path.read_text(encoding="utf-8", errors="replace").splitlines()
    return list(dict.fromkeys(line for text in texts for line in text.splitlines()
                              if line.strip()))


def test_diagnose_reports_what_search_answers_for_every_real_line(
        shipped: KnowledgeBase) -> None:
    lines = _case_lines()
    assert len(lines) > 600
    wrong = [(line[:100], _alone(shipped, line), _confident(shipped, line)) for line in lines
             if _alone(shipped, line) != _confident(shipped, line)]
    assert not wrong, wrong[:5]


def _journald(line: str) -> list[str]:
    """``line`` as journalctl -o json writes it when its bytes are not UTF-8 (MESSAGE as a
    list of byte values), and with JSON escapes in the message (every "A" as \\u0041:
    "AH02572" is not in the line's bytes; the key stays as journald writes it)."""
    escaped = '{"MESSAGE": ' + json.dumps(line).replace("A", "\\u0041") + ', "_PID": "16"}'
    values = json.dumps({"MESSAGE": list(line.encode("utf-8")), "_PID": "16"})
    # ... also behind a container's or syslog's prefix (found by a review)
    return [values, escaped, "web-1  | " + values, "Mar  5 10:12:01 host app[1]: " + escaped]


def test_diagnose_reports_what_search_answers_for_journald_lines(
        shipped: KnowledgeBase) -> None:
    """The prefilter reads bytes: a journald line whose message is spelled otherwise there
    (byte values, escapes) still reaches the signatures (before: search answered such a line
    and diagnose said nothing)."""
    lines = [form for line in _case_lines()[::8] for form in _journald(line)]
    wrong = [(line[:100], _alone(shipped, line), _confident(shipped, line)) for line in lines
             if _alone(shipped, line) != _confident(shipped, line)]
    assert not wrong, wrong[:5]
    answered = [line for line in lines if _confident(shipped, line)]
    assert len(answered) > 50


def _generated(n: int, seed: int) -> list[str]:
    """Lines of scripts/make_log.py --realistic."""
    if str(ROOT / "scripts") not in sys.path:
        sys.path.insert(0, str(ROOT / "scripts"))
    import realistic_log

    return list(realistic_log.realistic(n, seed))


def test_diagnose_reports_what_search_answers_for_generated_lines(
        shipped: KnowledgeBase) -> None:
    lines = list(dict.fromkeys(_generated(4000, seed=5)))
    wrong = [(line[:100], _alone(shipped, line), _confident(shipped, line)) for line in lines
             if _alone(shipped, line) != _confident(shipped, line)]
    assert not wrong, wrong[:5]


def test_a_line_the_prefilter_skips_gets_no_signal(shipped: KnowledgeBase) -> None:
    """The scanners' promise, checked line by line: skipped lines have no exact signal and
    are no question, so search cannot answer them confidently (and the log pipe matches no
    signature on a line only an outcome or error scanner picked)."""
    scanners = shipped.signals.prefilter()
    lines = _case_lines() + _generated(3000, seed=9)
    for line in lines + [form for line in lines[::10] for form in _journald(line)]:
        data = line.encode("utf-8", "replace")
        if any(s.search(data) for s in scanners):
            continue
        parsed = parse(line)
        assert not shipped.signals.match(parsed), line
        assert shipped.signals.line_hits(line) == (), line
        assert parsed.kind is not Kind.QUESTION, line


def _fed(kb: KnowledgeBase, data: bytes, collect: bool = False) -> Counter[tuple[str, str]]:
    diagnoser = kb.diagnoser(collect_unmatched=collect)
    diagnoser.feed_bytes(data)
    diagnoser.flush()
    return _problems(diagnoser.result())


def test_crlf_line_ends_give_the_same_problems(shipped: KnowledgeBase) -> None:
    """A log with CRLF line ends (a Windows host's, or one copied through one) is read as the
    same log with LF: the scanners' ``$`` would not match before a CR."""
    lines = (ROOT / "examples" / "error.log").read_bytes().splitlines()
    assert _fed(shipped, b"\r\n".join(lines) + b"\r\n") == _fed(shipped, b"\n".join(lines) + b"\n")
    entry = _entry("frobd-refuses-start").model_copy(update={"signatures": (
        Signature(kind=SignatureKind.REGEX, text=r"frobd worker \d+ gave up$"),)})
    kb = KnowledgeBase.from_entries([entry])
    for ending in (b"\n", b"\r\n"):
        found = _fed(kb, b"[error] frobd worker 7 gave up" + ending)
        assert [entry_id for entry_id, _ in found] == ["frobd-refuses-start"], ending


def test_a_line_that_is_not_utf8_keeps_its_signature() -> None:
    """A byte that is not UTF-8 is U+FFFD to the signatures; the byte scanners read it so
    too, and such a line is matched against the signatures whichever scanner picked it."""
    entry = _entry("frobd-worker-gives-up")
    entry = entry.model_copy(update={"signatures": (
        Signature(kind=SignatureKind.REGEX, text=r"frobd: .+ gave up"),)})
    kb = KnowledgeBase.from_entries([entry])
    for data in (b"[error] frobd: w\xc3\xb6rker gave up\n", b"[error] frobd: w\xf6rker gave up\n"):
        for collect in (True, False):  # picked by the error scanner, or by the prefilter
            found = _fed(kb, data, collect=collect)
            assert [entry_id for entry_id, _ in found] == ["frobd-worker-gives-up"], data


def test_a_shuffled_log_gives_the_same_problems(shipped: KnowledgeBase) -> None:
    # One pid per line: no two lines are one connection, so order cannot matter.
    lines = [line.replace("[pid ", f"[pid {n}") for n, line in
             enumerate(_generated(3000, seed=11))]
    shuffled = lines[:]
    random.Random(3).shuffle(shuffled)
    first, second = shipped.diagnose(lines), shipped.diagnose(shuffled)
    assert first.problems and _problems(first) == _problems(second)
    assert first.matched_lines == second.matched_lines


LINE_PARTS = st.sampled_from([
    "AH02039: Certificate Verification: Error (20): unable to get local issuer certificate",
    "SSL Library Error: error:0A000418:SSL routines::tlsv1 alert unknown ca",
    "SSL Library Error: error:0A000412:SSL routines::",
    "AH01964: Connection to child 4 established (server {host}:443)",
    "AH02032: Hostname {host} provided via SNI and hostname {host} provided via HTTP",
    "AH00128: File does not exist: /var/www/{word}/{uuid}.png",
    "AH02565: Certificate and private key {host}:443:0 from /etc/ssl/{word}.crt and "
    "/etc/ssl/{word}.key do not match",
    "AH01909: {host}:443:0 server certificate does NOT include an ID which matches the server",
    "SSL Library Error: 336151570",
    "client {ip} said {word}: how do I fix this?",
    "{word} {word} {word}",
])
MODULES = st.sampled_from(["ssl:info", "ssl:error", "core:error", "ssl:emerg", "ssl:debug"])
HOSTS = st.sampled_from(["www.example.com", "a.b.example.org", "x-1.example.net", "EXAMPLE.COM"])
IPS = st.sampled_from(["203.0.113.9", "2001:db8::7", "[::1]:443", "198.51.100.2:5500"])
PEERS = st.sampled_from(["client", "remote"])  # a client, or mod_proxy's backend
WORDS = st.text(alphabet="abcdefghij", min_size=1, max_size=8)


@st.composite
def _log_line(draw: st.DrawFn) -> str:
    part = draw(LINE_PARTS).format(host=draw(HOSTS), ip=draw(IPS), word=draw(WORDS),
                                   uuid=draw(st.uuids()))
    if draw(st.booleans()):
        return part
    return (f"[Tue Mar 05 10:12:01.1 2024] [{draw(MODULES)}] [pid {draw(st.integers(1, 9))}] "
            f"[{draw(PEERS)} {draw(IPS)}] {part}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_log_line(), min_size=1, max_size=12))
def test_agreement_on_generated_mixtures(shipped: KnowledgeBase, lines: list[str]) -> None:
    for line in lines:
        assert _alone(shipped, line) == _confident(shipped, line), line
    # Order must not matter for events of different processes. (A line with no prefix right
    # after a process's line is that process's stderr, so it is left out of this part.)
    events = [line for line in lines if "[pid " in line]
    reordered = list(reversed(events))
    numbered = [line.replace("[pid ", f"[pid {n}") for n, line in enumerate(events)]
    renumbered = [line.replace("[pid ", f"[pid {n}") for n, line in
                  zip(range(len(events) - 1, -1, -1), reordered, strict=True)]
    assert _problems(shipped.diagnose(numbered)) == _problems(shipped.diagnose(renumbered))


# -- bounded and mergeable ------------------------------------------------------------------


def _variant_log(n: int) -> list[str]:
    """n lines of one entry, each with a template of its own (a word no mask takes)."""
    words = ["".join(random.Random(i).choices("abcdefghijklmnop", k=12)) for i in range(n)]
    return [f"[Tue Mar 05 10:12:01.1 2024] [ssl:emerg] [pid {i}] AH02580: Init: Pass phrase "
            f"incorrect for key {w}" for i, w in enumerate(words)]


def test_templates_per_entry_are_bounded(shipped: KnowledgeBase) -> None:
    lines = _variant_log(MAX_VARIANTS * 3)
    diagnosis = shipped.diagnose(lines)
    kept = [p for p in diagnosis.problems if not p.other_variants]
    (other,) = [p for p in diagnosis.problems if p.other_variants]
    assert len(kept) == MAX_VARIANTS
    assert sum(p.count for p in diagnosis.problems) == len(lines)
    assert other.count == len(lines) - MAX_VARIANTS and other.as_json()["template"] is None
    shuffled = lines[:]
    random.Random(1).shuffle(shuffled)
    assert _problems(shipped.diagnose(shuffled)) == _problems(diagnosis)  # order-free choice


def test_unmatched_templates_are_bounded(shipped: KnowledgeBase) -> None:
    diagnoser = shipped.diagnoser(collect_unmatched=True, max_unmatched=20)
    lines = [f"[Tue Mar 05 10:12:01.1 2024] [proxy:error] [pid 9] AH00940: {w} failed"
             for w in ("".join(random.Random(i).choices("qrstuvwxyz", k=10)) for i in range(90))]
    diagnoser.feed(lines)
    diagnoser.flush()
    result = diagnoser.result()
    assert len(result.unmatched) == 20
    assert sum(u.count for u in result.unmatched) + result.other_unmatched == 90


def _diagnose_part(kb: KnowledgeBase, lines: list[str], first: int) -> Diagnosis:
    diagnoser = kb.diagnoser(collect_unmatched=True, first_line=first)
    diagnoser.feed(lines)
    diagnoser.flush()
    return diagnoser.result()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 400), max_size=4))
def test_diagnosing_parts_and_merging_is_diagnosing_the_whole(shipped: KnowledgeBase,
                                                              cuts: list[int]) -> None:
    lines = [line.replace("[pid ", f"[pid {n}") for n, line in
             enumerate(_generated(400, seed=2) + _variant_log(80))]
    points = sorted({0, len(lines), *(c for c in cuts if c < len(lines))})
    parts = [_diagnose_part(shipped, lines[a:b], a + 1) for a, b in zip(points, points[1:])]
    whole = _diagnose_part(shipped, lines, 1)
    merged = parts[0]
    for part in parts[1:]:
        merged = merged + part
    assert [p.as_json() for p in merged.problems] == [p.as_json() for p in whole.problems]
    assert merged.summary() == whole.summary()
    assert [(u.template, u.count) for u in merged.unmatched] == [
        (u.template, u.count) for u in whole.unmatched]


def test_merge_is_commutative_and_associative(shipped: KnowledgeBase) -> None:
    logs = [_generated(300, seed=s) for s in (1, 2, 3)]
    a, b, c = (_diagnose_part(shipped, log, 1 + 300 * i) for i, log in enumerate(logs))
    dump = [p.as_json() for p in ((a + b) + c).problems]
    assert dump == [p.as_json() for p in (a + (b + c)).problems]
    assert dump == [p.as_json() for p in ((c + a) + b).problems]


def test_diagnoser_and_diagnosis_pickle(shipped: KnowledgeBase) -> None:
    diagnoser = shipped.diagnoser()
    diagnoser.feed(_generated(200, seed=4))
    again = pickle.loads(pickle.dumps(diagnoser))
    more = _generated(200, seed=6)
    diagnoser.feed(more)
    again.feed(more)
    diagnoser.flush()
    again.flush()
    assert _problems(again.result()) == _problems(diagnoser.result())
    result = diagnoser.result()
    assert _problems(pickle.loads(pickle.dumps(result))) == _problems(result)
