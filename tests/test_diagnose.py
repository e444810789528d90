"""kb diagnose: grouping, joining, unmatched stubs, hostile bytes, gzip, follow mode."""

from __future__ import annotations

import gzip
import io
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from frontends.cli import Env, ExitCode, main
from kb import KnowledgeBase

PASS = ("[Tue Mar 05 10:12:0{n}.123456 2024] [ssl:emerg] [pid 12{n}:tid 5] AH02580: Init: Pass "
        "phrase incorrect for key www.example.com:443:0")
NOISE = ("[Tue Mar 05 10:12:01.123456 2024] [mpm_event:notice] [pid 10:tid 1] AH00489: "
         "Apache/2.4.62 (Debian) configured -- resuming normal operations")
WRONG_SCHEME = [
    "[Sat Nov 28 07:06:11.787685 2026] [ssl:info] [pid 11417:tid 11417] [client 127.0.0.1:39274] "
    "AH02008: SSL library error 1 in handshake (server www.example.test:443)",
    "[Sat Nov 28 07:06:11.787710 2026] [ssl:info] [pid 11417:tid 11417] SSL Library Error: "
    "error:0A00010B:SSL routines::wrong version number",
]


def test_same_problem_is_one_report(shipped: KnowledgeBase) -> None:
    lines = [NOISE] + [PASS.format(n=n) for n in range(5)] + [NOISE]
    diagnosis = shipped.diagnose(lines)
    (problem,) = diagnosis.problems
    assert problem.entry.id == "remove-passphrase-dialog"
    assert (problem.count, problem.first_line, problem.last_line) == (5, 2, 6)
    assert problem.level == "emerg" and "<host>" in problem.template
    assert diagnosis.lines == 7


def test_lines_of_one_connection_join(shipped: KnowledgeBase) -> None:
    diagnosis = shipped.diagnose(WRONG_SCHEME)
    (problem,) = diagnosis.problems
    assert problem.entry.id == "connection-hangs-wrong-scheme"
    assert (problem.count, problem.first_line, problem.last_line) == (1, 2, 2)


def test_incremental_feeding(shipped: KnowledgeBase) -> None:
    diagnoser = shipped.diagnoser()
    assert diagnoser.feed_text(NOISE + "\n" + PASS.format(n=1)[:40]) == []
    new = diagnoser.feed_text(PASS.format(n=1)[40:] + "\n")
    assert [p.entry.id for p in new] == ["remove-passphrase-dialog"]
    assert diagnoser.feed([PASS.format(n=2)]) == []  # known problem: counted, not new
    assert diagnoser.result().problems[0].count == 2


def test_hostile_input_never_crashes(shipped: KnowledgeBase) -> None:
    hostile = [
        "\x00\x00" + PASS.format(n=1) + "\x1b]52;c;aGk=\x07",
        "\udcff\ufffd" * 1000,
        "A" * 5_000_000,
        "[" * 10000,
    ]
    diagnosis = shipped.diagnose(hostile)
    assert diagnosis.lines == 4
    assert [p.entry.id for p in diagnosis.problems] == ["remove-passphrase-dialog"]


def _cli(argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    env = Env(stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=io.StringIO(),
              environ={**os.environ, "NO_COLOR": "1"}, stdout_isatty=False)
    code = main(argv, env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def test_cli_report_json_and_exit_codes(tmp_path: Path) -> None:
    log = tmp_path / "error.log.gz"
    with gzip.open(log, "wt", encoding="utf-8") as handle:
        handle.write("\n".join([NOISE, PASS.format(n=1), *WRONG_SCHEME]) + "\n")
    code, out, _ = _cli(["diagnose", "--json", str(log)])
    objects = [json.loads(line) for line in out.splitlines()]
    assert code == ExitCode.FOUND
    assert [o["type"] for o in objects] == ["problem", "problem", "summary"]
    assert {"id", "title", "confidence", "count", "first_line", "last_line", "sample",
            "template"} <= set(objects[0])
    assert objects[0]["id"] == "remove-passphrase-dialog"  # emerg before info
    code, out, _ = _cli(["diagnose", "--brief", str(log)])
    assert code == ExitCode.FOUND and "remove-passphrase-dialog" in out
    quiet = tmp_path / "quiet.log"
    quiet.write_text(NOISE + "\n", encoding="utf-8")
    assert _cli(["diagnose", str(quiet)])[0] == ExitCode.OK
    assert _cli(["diagnose", str(tmp_path / "missing.log")])[0] == ExitCode.USAGE  # as grep


def test_unmatched_stub(tmp_path: Path) -> None:
    log = tmp_path / "e.log"
    odd = ("[Tue Mar 05 10:12:01.123456 2024] [proxy:error] [pid 9:tid 1] AH00940: HTTP: "
           "disabled connection for (backend.example.com)")
    log.write_text(f"{odd}\n{odd}\n{PASS.format(n=1)}\n", encoding="utf-8")
    stub = tmp_path / "stub.md"
    _cli(["diagnose", "--unmatched", str(stub), str(log)])
    text = stub.read_text(encoding="utf-8")
    assert f"Seen 2 time(s), first at {log}:1" in text and "AH00940" in text
    from kb.compiler import compile_paths

    assert compile_paths([stub])  # the stub is valid kb Markdown


def test_follow_survives_append_rotation_and_truncation(tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    log.write_text(NOISE + "\n", encoding="utf-8")
    env = {**os.environ, "KB_CACHE_DIR": os.environ["KB_CACHE_DIR"], "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "frontends.cli", "diagnose", "--json", "-f",
                             "--from-start", str(log)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        with log.open("a", encoding="utf-8") as handle:
            handle.write(PASS.format(n=1) + "\n")
        first = _read_object(proc)
        log.rename(tmp_path / "error.log.1")  # rotation: a new file takes the name
        log.write_text(WRONG_SCHEME[0] + "\n" + WRONG_SCHEME[1] + "\n", encoding="utf-8")
        second = _read_object(proc)
        log.write_text("", encoding="utf-8")  # truncation
        time.sleep(0.6)
        with log.open("a", encoding="utf-8") as handle:
            handle.write("[Tue Mar 05 10:12:01 2010] [warn] RSA server certificate CommonName "
                         "(CN) `x.example.com' does NOT match server name!?\n")
        third = _read_object(proc)
        with log.open("a", encoding="utf-8") as handle:  # the same problem again: an update
            again = "\n".join(WRONG_SCHEME).replace("pid 11417", "pid 22222")
            handle.write(again + "\n")
        update = _read_object(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert [first["id"], second["id"], third["id"]] == [
        "remove-passphrase-dialog", "connection-hangs-wrong-scheme", "create-real-certificate"]
    assert (update["id"], update["count"]) == ("connection-hangs-wrong-scheme", 2)


def _read_object(proc: subprocess.Popen[str]) -> dict[str, object]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready, "kb diagnose -f printed nothing for 60 s"
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else "no output"
    return json.loads(line)
