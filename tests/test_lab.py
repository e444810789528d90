"""A real server's log: every row of the lab's index maps to the right problem, with exact counts.

tests/data/lab/error.log is what Apache 2.4.71 / OpenSSL 3.0.19 wrote while it was provoked
into the usual failures (the first-day review's lab); the rows below are its index: which
lines, what was done, and the remedy an expert would name.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from frontends.cli import Env, main
from kb import Diagnosis, KnowledgeBase, Problem

LAB = Path(__file__).resolve().parent / "data" / "lab"
LOG = LAB / "error.log"


@pytest.fixture(scope="module")
def lab(shipped: KnowledgeBase) -> Diagnosis:
    diagnoser = shipped.diagnoser(source="error.log")
    diagnoser.feed_bytes(LOG.read_bytes())
    diagnoser.flush()
    return diagnoser.result()


def _problem(diagnosis: Diagnosis, entry: str, contains: str) -> Problem:
    found = [p for p in diagnosis.problems if p.entry.id == entry and contains in p.template]
    assert len(found) == 1, [(p.entry.id, p.template) for p in diagnosis.problems]
    return found[0]


# (index row, entry, a piece of the template, count, first line, a failed start?)
ROWS = [
    ("1-7 AH01882 built against a newer OpenSSL", "core-dump-first-https", "AH01882", 10, 1,
     False),
    ("1-7 AH01909 mtls name not in its certificate", "cert-hostname-mismatch", "AH01909", 10, 2,
     False),
    ("1-7 AH01906 shop certificate is a CA", "server-cert-is-ca", "AH01906", 8, 3, False),
    ("10, 39, 251-269 SNI and Host disagree (421)", "misdirected-request-421", "AH02032", 3, 10,
     False),
    ("11 self-signed client certificate", "client-cert-required", "AH02039", 1, 11, False),
    ("31-33, 221-250, 251-269 plain HTTP to the HTTPS port", "connection-hangs-wrong-scheme",
     "AH01996", 5, 31, False),
    ("33-36, 80-83, 247-250 client does not trust the issuer", "alert-unknown-ca",
     "tlsv1 alert unknown ca", 3, 35, False),
    ("41-43, 221-250, 251-269 expired certificate", "certificate-expired",
     "certificate expired", 5, 42, False),
    ("45-47, 251-269 client sent no certificate", "client-cert-required",
     "peer did not return a certificate", 2, 46, False),
    ("48-52 client certificate from an unknown CA", "client-cert-required", "AH02276", 1, 49,
     False),
    ("53-56, 67-70 TLS 1.0/1.1 client vs OpenSSL 3", "tlsv1-alert-internal-error",
     "no suitable signature algorithm", 2, 55, False),
    ("57-60, 221-250 cipher and certificate types disagree", "no-shared-cipher",
     "no shared cipher", 2, 59, False),
    ("61-66 client certificate missing on renegotiation", "client-cert-required", "AH02263", 1,
     65, False),
    ("84-114 encrypted key: the dialog program", "debian-passphrase-hang", "AH01969", 1, 95,
     False),
    ("84-114 encrypted key: wrong pass phrase at start", "remove-passphrase-dialog", "AH02580",
     1, 96, True),
    ("115-128, 145-158 key and certificate do not match", "key-cert-match", "AH02565", 2, 127,
     True),
    ("129-144 a DER certificate", "pem-to-der", "no start line", 1, 142, True),
    ("159-191 builtin dialog without a terminal", "remove-passphrase-dialog", "AH02578", 1,
     173, True),
]


@pytest.mark.parametrize(("row", "entry", "contains", "count", "first", "startup"), ROWS,
                         ids=[r[0] for r in ROWS])
def test_each_row_of_the_index(lab: Diagnosis, row: str, entry: str, contains: str, count: int,
                               first: int, startup: bool) -> None:
    problem = _problem(lab, entry, contains)
    assert (problem.count, problem.first_line, problem.startup) == (count, first, startup), row


def test_generic_lines_are_context_not_problems(lab: Diagnosis) -> None:
    """AH01998 abortive shutdown, AH02008, AH00016, AH02311 never stand for a problem whose
    episode names its cause; the unknown-CA connections show AH01998 as context."""
    unknown_ca = _problem(lab, "alert-unknown-ca", "unknown ca")
    assert any("AH01998" in line for line in unknown_ca.context)
    assert all("AH00016" not in p.template and "AH02311" not in p.template
               for p in lab.problems)
    # The two AH01998-only reports are the connections whose cause no entry knows
    # ("length too short" twice): no cause line had an answer.
    generic = [p for p in lab.problems if "AH01998" in p.template]
    assert sum(p.count for p in generic) == 2


def test_times_are_iso_and_levels_are_the_worst_of_the_event(lab: Diagnosis) -> None:
    passphrase = _problem(lab, "remove-passphrase-dialog", "AH02580")
    assert passphrase.level == "emerg" and passphrase.first_time.startswith("2026-12-01T07:51")
    assert lab.problems[0].level == "emerg"  # worst first


STARTUP = {
    "listentwice": "listen-defined-twice",
    "missingcert": "certificate-file-missing",
    "portinuse": "port-443-in-use",
    "nomodssl": "ssl-module-not-loaded",
    "passphrase-builtin": "remove-passphrase-dialog",
    "passphrase": "apache-wont-start",
    "keymismatch": "apache-wont-start",
    "dercert": "apache-wont-start",
    "wrongorder": "apache-wont-start",
}


@pytest.mark.parametrize(("name", "entry"), sorted(STARTUP.items()))
def test_each_startup_capture_is_one_failed_start(shipped: KnowledgeBase, name: str,
                                                  entry: str) -> None:
    text = (LAB / "startup" / f"{name}.txt").read_text(encoding="utf-8")
    (problem,) = shipped.diagnose(text.splitlines()).problems
    assert (problem.entry.id, problem.startup, problem.count) == (entry, True, 1)


def _cli(*argv: str) -> tuple[int, str]:
    env = Env(stdin=io.StringIO(""), stdout=io.StringIO(), stderr=io.StringIO(),
              environ={**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}, stdout_isatty=False)
    code = main(list(argv), env)
    return code, env.stdout.getvalue()  # type: ignore[attr-defined]


def test_the_report_reads_at_a_glance() -> None:
    code, out = _cli("diagnose", str(LOG))
    assert code == 1
    head = out.split("\n\u2500\u2500 ", 1)[0].splitlines()
    assert len(head) <= 80  # two 40-line screens before the detail
    assert head[0].startswith("kb diagnose: 269 lines from ")
    assert any(line.startswith("Start here: Apache did not start") for line in head)
    detail = out.split("\n\u2500\u2500 ", 1)[1]
    assert "first thing to do:" in detail and "the whole answer: kb show " in detail
    # the log's own files in the key-mismatch commands, marked as filled in
    assert "openssl x509 -in /etc/apache2/ssl/" in out
    assert "filled in from your log: certificate /etc/apache2/ssl/" in out


def test_brief_shows_the_message_and_json_the_first_step() -> None:
    _, brief = _cli("diagnose", "--brief", str(LOG))
    assert "AH02580: Init: Pass phrase incorrect for key <host>" in brief
    _, out = _cli("diagnose", "--json", str(LOG))
    objects = [json.loads(line) for line in out.splitlines()]
    problem = next(o for o in objects if o["type"] == "problem" and o["id"] == "key-cert-match")
    assert problem["where"].endswith(":127") and problem["startup"] is True
    assert problem["filled_in"] and problem["first_step"]
    assert objects[-1]["startup_failures"] == 4
