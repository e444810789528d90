"""kb diagnose as a user runs it (subprocesses): every input kind, and following a file."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KB = [sys.executable, "-m", "frontends.cli"]
PASS = ("[Tue Mar 05 10:12:0{n}.123456 2024] [ssl:emerg] [pid 12{n}:tid 12{n}] AH02580: Init: "
        "Pass phrase incorrect for key www.example.com:443:0")
UNKNOWN_CA = ["[Tue Mar 05 10:12:01.200268 2024] [ssl:info] [pid 16:tid 22] [client "
              "203.0.113.5:48710] AH02008: SSL library error 1 in handshake (server x:443)",
              "[Tue Mar 05 10:12:01.200280 2024] [ssl:info] [pid 16:tid 22] SSL Library Error: "
              "error:0A000418:SSL routines::tlsv1 alert unknown ca (SSL alert number 48)",
              "[Tue Mar 05 10:12:01.200290 2024] [ssl:info] [pid 16:tid 22] [client "
              "203.0.113.5:48710] AH01998: Connection closed to child 0 with abortive shutdown "
              "(server x:443)"]
NOISE = ("[Tue Mar 05 10:12:01.123456 2024] [mpm_event:notice] [pid 10:tid 10] AH00489: "
         "Apache/2.4.62 (Debian) configured -- resuming normal operations")


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "KB_CACHE_DIR": os.environ["KB_CACHE_DIR"], "PYTHONUNBUFFERED": "1",
            "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}


def _run(tmp_path: Path, *argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*KB, *argv], input=stdin, capture_output=True, env=_env(tmp_path),
                          cwd=tmp_path, timeout=120, check=False)


def _ids(out: bytes) -> list[str]:
    return [o["id"] for o in map(json.loads, out.decode().splitlines()) if o["type"] == "problem"]


LOG = "\n".join([NOISE, PASS.format(n=1), *UNKNOWN_CA]) + "\n"


def _zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize("kind", ["plain", "gzip", "xz", "bzip2", "zstd"])
def test_every_compression_by_its_magic_bytes(tmp_path: Path, kind: str) -> None:
    pack = {"plain": lambda b: b, "gzip": gzip.compress, "xz": lzma.compress,
            "bzip2": bz2.compress, "zstd": _zstd}[kind]
    log = tmp_path / "error.log.1"  # the name says nothing: the bytes do
    log.write_bytes(pack(LOG.encode()))
    done = _run(tmp_path, "diagnose", "--json", str(log))
    assert done.returncode == 1, done.stderr
    assert _ids(done.stdout) == ["remove-passphrase-dialog", "alert-unknown-ca"]
    piped = _run(tmp_path, "diagnose", "--json", "-", stdin=log.read_bytes())
    assert _ids(piped.stdout) == ["remove-passphrase-dialog", "alert-unknown-ca"]


@pytest.mark.parametrize("wrap", [
    pytest.param(lambda line: "2024-03-05T10:12:01.123456789Z " + line, id="docker-t"),
    pytest.param(lambda line: "[pod/web-7d4b9c-x2kq9/apache] " + line, id="kubectl-prefix"),
    pytest.param(lambda line: "web-1  | " + line, id="compose"),
    pytest.param(lambda line: json.dumps({"MESSAGE": line, "_PID": "16", "_HOSTNAME": "web1",
                                          "SYSLOG_IDENTIFIER": "apache2",
                                          "__REALTIME_TIMESTAMP": "1709633521200268"}),
                 id="journald-json"),
    pytest.param(lambda line: "<163>1 2024-03-05T10:12:01.2Z web1 apache2 16 - - " + line,
                 id="rfc5424"),
])
def test_container_and_journal_prefixes_keep_the_apache_fields(tmp_path: Path, wrap) -> None:
    log = tmp_path / "wrapped.log"
    log.write_text("\n".join(wrap(line) for line in UNKNOWN_CA) + "\n", encoding="utf-8")
    done = _run(tmp_path, "diagnose", "--json", str(log))
    objects = [json.loads(line) for line in done.stdout.decode().splitlines()]
    problems = [o for o in objects if o["type"] == "problem"]
    # one connection, one problem, under its cause: the pid and tid were read through the wrap
    assert [(p["id"], p["count"]) for p in problems] == [("alert-unknown-ca", 1)]
    assert problems[0]["level"] == "info"


def test_binary_input_and_missing_files_exit_2(tmp_path: Path) -> None:
    binary = tmp_path / "core"
    binary.write_bytes(bytes(range(256)) * 64)
    done = _run(tmp_path, "diagnose", str(binary))
    assert done.returncode == 2 and b"binary data, not a log" in done.stderr
    done = _run(tmp_path, "diagnose", str(tmp_path / "nope.log"))
    assert done.returncode == 2 and b"No such file or directory" in done.stderr


def test_unmatched_to_stdout_and_filters(tmp_path: Path) -> None:
    log = tmp_path / "e.log"
    odd = ("[Tue Mar 05 10:12:01.123456 2024] [proxy:error] [pid 9:tid 1] AH00940: HTTP: "
           "disabled connection for (backend.example.com)")
    log.write_text(LOG + odd + "\n", encoding="utf-8")
    done = _run(tmp_path, "diagnose", "--brief", "--unmatched", "-", str(log))
    assert b"## What does \"AH00940: HTTP: disabled connection" in done.stdout
    assert not (tmp_path / "-").exists()
    top = _run(tmp_path, "diagnose", "--json", "--top", "1", str(log))
    assert _ids(top.stdout) == ["remove-passphrase-dialog"]
    level = _run(tmp_path, "diagnose", "--json", "--level", "error", str(log))
    assert _ids(level.stdout) == ["remove-passphrase-dialog"]
    since = _run(tmp_path, "diagnose", "--json", "--since", "2030-01-01", str(log))
    assert since.returncode == 0 and _ids(since.stdout) == []


def test_a_piped_stdin_prints_each_problem_once(tmp_path: Path) -> None:
    proc = subprocess.Popen([*KB, "diagnose", "--brief"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path))
    out, err = proc.communicate(("\n".join([PASS.format(n=1), PASS.format(n=2)] + UNKNOWN_CA)
                                 + "\n").encode(), timeout=60)
    text = out.decode()
    assert proc.returncode == 1, err
    # each problem once, with its count; the end is a summary, not the list again
    assert text.count("alert-unknown-ca") == 1 and text.count("remove-passphrase-dialog") == 1
    assert "2x [emerg]   remove-passphrase-dialog" in text
    assert text.rstrip().endswith("4 line(s) matched")


def _read_json(proc: subprocess.Popen[str], timeout: float = 60) -> dict[str, object]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "kb diagnose -f printed nothing"
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else "no output"
    return json.loads(line)  # type: ignore[no-any-return]


def test_follow_starts_at_the_end_waits_rotates_truncates_and_stops_with_a_summary(
        tmp_path: Path) -> None:
    log = tmp_path / "error.log"
    proc = subprocess.Popen([*KB, "diagnose", "--json", "-f", str(log)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(tmp_path))
    try:
        time.sleep(1.5)  # the file does not exist yet: kb waits for it
        log.write_text(PASS.format(n=1) + "\n", encoding="utf-8")  # there before: not read
        time.sleep(1.5)
        with log.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(UNKNOWN_CA) + "\n")
        first = _read_json(proc)
        log.rename(tmp_path / "error.log.1")  # rotation: a new file takes the name
        log.write_text(PASS.format(n=2) + "\n", encoding="utf-8")
        second = _read_json(proc)
        log.write_text("", encoding="utf-8")  # truncation (copytruncate)
        time.sleep(0.8)
        with log.open("a", encoding="utf-8") as handle:
            handle.write(PASS.format(n=3).replace("AH02580", "AH02578").replace(
                "Pass phrase incorrect for key", "Unable to read pass phrase") + "\n")
        third = _read_json(proc)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        rest = [json.loads(line) for line in proc.communicate(timeout=60)[0].splitlines()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert first["id"] == "alert-unknown-ca"  # the line written before kb read it stays out
    assert second["id"] == "remove-passphrase-dialog"
    assert third["id"] == "remove-passphrase-dialog" and third["template"] != second["template"]
    assert rest[-1]["type"] == "summary" and rest[-1]["problems"] == 3
    assert proc.returncode == 143
