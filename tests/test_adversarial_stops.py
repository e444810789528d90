"""Adversarial round 2 (issue 18), stops that lost results: SIGTERM and SIGHUP (summary,
--unmatched file, no temporary build left), a reader that goes away (the exit code still says
what was found), closed standard streams, and ``kb build`` when the cache cannot be written.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from frontends.cli import Env, ExitCode, main
from frontends.streams import ClosedStream

ROOT = Path(__file__).resolve().parent.parent
KB = [sys.executable, "-m", "frontends.cli"]
KEY = ("[Tue Mar 05 10:12:0{n}.123456 2024] [ssl:error] [pid 10{n}] AH02565: Certificate and "
       "private key www.example.com:443:0 from /etc/ssl/a.crt and /etc/ssl/a.key do not match")
ODD = "[Tue Mar 05 10:12:03.123456 2024] [core:error] [pid 77] frobnicator failed to start"


def _env(**streams: Any) -> Env:
    defaults: dict[str, Any] = {"stdin": io.StringIO(), "stdout": io.StringIO(),
                                "stderr": io.StringIO()}
    return Env(**(defaults | streams), stdout_isatty=False, stdin_isatty=False,
               environ={"NO_COLOR": "1", "KB_CACHE_DIR": os.environ["KB_CACHE_DIR"]})


def _environ() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


# -- SIGTERM and SIGHUP ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "code"), [("SIGTERM", 143), ("SIGHUP", 129)])
def test_stop_signal_prints_the_summary_and_writes_unmatched(name: str, code: int,
                                                             tmp_path: Path) -> None:
    """A piped stdin that stays open (live mode): the signal ends it like Ctrl-C does."""
    stub = tmp_path / "unmatched.md"
    proc = subprocess.Popen([*KB, "diagnose", "--json", "--unmatched", str(stub)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_environ(), cwd=tmp_path)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"{KEY.format(n=1)}\n{ODD}\n{KEY.format(n=2)}\n".encode())
        proc.stdin.flush()
        first = proc.stdout.readline()  # the first problem, printed live
        assert b'"key-cert-match"' in first
        time.sleep(0.3)
        proc.send_signal(getattr(signal, name))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert b'"type": "summary"' in out.splitlines()[-1]
    assert "frobnicator failed" in stub.read_text(encoding="utf-8")


def test_sigterm_in_batch_mode_reports_what_was_read(tmp_path: Path) -> None:
    """A named pipe given as FILE is read in batch mode: SIGTERM still gives the report."""
    fifo = tmp_path / "log.fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([*KB, "diagnose", "--brief", str(fifo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_environ(), cwd=tmp_path)
    try:
        with fifo.open("w", encoding="utf-8") as writer:
            writer.write(KEY.format(n=1) + "\n")
            writer.flush()
            time.sleep(1.0)
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert b"1 problem(s)" in out and b"key-cert-match" in out


def test_sigterm_during_build_leaves_no_temporary_directory(tmp_path: Path, cache_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import kb.whoosh_build as whoosh_build

    real = whoosh_build.invert

    def invert_then_terminated(*args: Any, **kwargs: Any) -> Any:
        data = real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-build, in the main thread
        time.sleep(1)
        return data

    monkeypatch.setattr(whoosh_build, "invert", invert_then_terminated)
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "a.md").write_text("## Why?\n\nBecause.\n", encoding="utf-8")
    env = _env()
    assert main(["build", str(folder)], env) == ExitCode.TERMINATED
    assert env.stderr.getvalue() == "kb: terminated\n"  # type: ignore[attr-defined]
    assert cache_dir.is_dir() and not list(cache_dir.glob("tmp-*"))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored after the run


# -- the reader goes away ------------------------------------------------------------------------


class _Gone(io.StringIO):
    """A pipe whose reader has exited (``| head -0``)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_pipe_keeps_the_exit_code_of_what_was_found() -> None:
    log = "\n".join(KEY.format(n=n) for n in range(3)) + "\n"
    assert main(["diagnose", "-"], _env(stdin=io.StringIO(log), stdout=_Gone())) == 1
    quiet = "[Tue Mar 05 10:12:01 2024] [core:notice] [pid 1] AH00094: Command line: 'httpd'\n"
    assert main(["diagnose", "-"], _env(stdin=io.StringIO(quiet), stdout=_Gone())) == 0
    assert main(["search", "AH02565"], _env(stdout=_Gone())) == 0
    assert main(["search", "--no-semantic", "zzqx"], _env(stdout=_Gone())) == 1


def test_broken_pipe_in_a_real_pipe(tmp_path: Path) -> None:
    """The reader is gone before kb writes (``| head -0``): quiet, and exit 1 (found)."""
    log = tmp_path / "error.log"
    log.write_text(KEY.format(n=1) + "\n", encoding="utf-8")
    proc = subprocess.Popen([*KB, "diagnose", str(log)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_environ(), cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert err == b""


# -- closed standard streams ---------------------------------------------------------------------


def test_closed_stdout_is_a_clear_error() -> None:
    env = _env(stdout=ClosedStream("stdout"))
    assert main(["search", "AH02565"], env) == ExitCode.ERROR
    assert env.stderr.getvalue() == "kb: error: stdout is closed\n"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("argv", "code"), [(["search", "-"], 5), (["diagnose"], 2),
                                             (["shell"], 5)])
def test_closed_stdin_is_a_clear_error(argv: list[str], code: int) -> None:
    env = _env(stdin=ClosedStream("stdin"))
    assert main(argv, env) == code
    assert "stdin is closed" in env.stderr.getvalue()  # type: ignore[attr-defined]
    assert "AttributeError" not in env.stderr.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize("shell", ['exec "$0" "$@" AH02565 >&-', 'exec "$0" "$@" - <&-'],
                         ids=["stdout", "stdin"])
def test_closed_streams_in_a_real_process(shell: str, tmp_path: Path) -> None:
    done = subprocess.run(["sh", "-c", shell, *KB, "search"], capture_output=True,
                          env=_environ(), cwd=tmp_path, timeout=120, check=False)
    assert done.returncode == 5
    assert done.stderr.startswith(b"kb: error: std") and b"is closed" in done.stderr


# -- kb build without a cache --------------------------------------------------------------------


def test_build_fails_when_the_cache_cannot_be_written(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory", encoding="utf-8")
    folder = tmp_path / "faq"
    folder.mkdir()
    (folder / "a.md").write_text("## Why?\n\nBecause.\n", encoding="utf-8")
    env = _env()
    env.environ["KB_CACHE_DIR"] = str(blocked / "kb")
    assert main(["build", str(folder)], env) == ExitCode.ERROR
    err = env.stderr.getvalue()  # type: ignore[attr-defined]
    assert err.startswith("kb: warning: index cache not usable")
    assert "kb: error: built 1 entries, but the index of faq could not be cached" in err
    assert env.stdout.getvalue() == ""  # type: ignore[attr-defined]
