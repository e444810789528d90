"""Adversarial round 2 (issue 18), kb shell: F20 (a paste that ends itself early runs
commands), F21 (the history file: mode, escapes, size, opt-outs) and F1/F2 on a real
pseudo-terminal (a raw 0x9b typed in a C.UTF-8 and in a strict locale).
"""

from __future__ import annotations

import io
import os
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from frontends import history as shell_history
from frontends.history import HistoryMode, history_mode, open_history, read_entries
from frontends.shell import prompt_loop
from kb import KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
BREAKOUT = "\x1b[200~first pasted line AH02565\x1b[201~\r:quit\r"


@pytest.fixture
def pipe() -> Iterator[PipeInput]:
    with create_pipe_input() as pipe_input:
        yield pipe_input


# -- F20: the paste that ends itself -----------------------------------------------------------


def test_f20_keys_after_a_fake_end_of_paste_do_not_submit(shipped: KnowledgeBase,
                                                          pipe: PipeInput) -> None:
    pipe.send_text(BREAKOUT)  # one burst, as a terminal delivers a paste
    pipe.send_text("\x03\x04")  # then Ctrl-C drops the input and Ctrl-D leaves
    out, history = io.StringIO(), InMemoryHistory()
    prompt_loop(shipped, out, history=history, term_in=pipe, term_out=DummyOutput(),
                clock=lambda: 0.0)  # every key of the burst at once
    assert history.get_strings() == []  # nothing was submitted, :quit did not run
    assert "\n1. " not in out.getvalue()


def test_f20_a_real_enter_later_submits_the_whole_paste(shipped: KnowledgeBase,
                                                        pipe: PipeInput) -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    pipe.send_text(BREAKOUT)
    out, history = io.StringIO(), InMemoryHistory()

    def later(*args: Any) -> None:  # the person presses Enter half a second later
        now[0] = 0.5
        pipe.send_text("\r\x04")

    import threading

    timer = threading.Timer(0.5, later)
    timer.start()
    try:
        prompt_loop(shipped, out, history=history, term_in=pipe, term_out=DummyOutput(),
                    clock=clock)
    finally:
        timer.cancel()
    (entry,) = history.get_strings()
    assert entry == "first pasted line AH02565\n:quit\n"  # searched as text, not run
    assert "key-cert-match" in out.getvalue()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_f20_breakout_on_a_real_terminal(tmp_path: Path) -> None:
    child = _spawn(tmp_path)
    try:
        _expect(child, "Ctrl-D: quit")
        child.send(BREAKOUT)
        time.sleep(1.0)
        assert child.isalive(), "the pasted :quit ended the shell"
        child.send("\r")  # a person's Enter
        _expect(child, "key-cert-match")
        _leave(child)
    finally:
        child.close()
    assert child.exitstatus == 0


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize("encoding", ["", "utf-8:strict"], ids=["c-utf8", "strict"])
def test_f1_f2_a_raw_c1_byte_typed_on_a_terminal(encoding: str, tmp_path: Path) -> None:
    child = _spawn(tmp_path, {"PYTHONIOENCODING": encoding} if encoding else {})
    try:
        _expect(child, "Ctrl-D: quit")
        child.send(b":\x9bX31m\r")
        _expect(child, "unknown command")
        _expect(child, "kb>")
        child.send("AH02565 do not match\r")
        _expect(child, "key-cert-match")
        _leave(child)
    finally:
        child.close()
    assert child.exitstatus == 0
    child.logfile_read.getvalue().decode("utf-8")  # no raw 0x9b (not UTF-8 on its own)


# -- F21: the history file ----------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_f21_history_is_private_and_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    history = open_history(folder)
    history.append_string("password=Hunter2 \x1b]0;PWNED\x07\x1b[2J line")
    path = folder / "shell_history"
    assert (_mode(folder), _mode(path)) == (0o700, 0o600)
    text = path.read_text(encoding="utf-8")
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;PWNED\\x07\\x1b[2J" in text


def test_f21_a_loose_history_file_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "shell_history"
    path.write_text("\n# old\n+how do I\n", encoding="utf-8")
    path.chmod(0o644)
    history = open_history(tmp_path)
    assert _mode(path) == 0o600
    assert history.load_history_strings is not None
    assert list(history.load_history_strings()) == ["how do I"]


def test_f21_history_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shell_history, "MAX_BYTES", 20_000)
    history = open_history(tmp_path)
    history.append_string("y" * 100_000)  # a huge paste keeps its first MAX_ENTRY characters
    for n in range(2000):
        history.append_string(f"question number {n}")
    path = tmp_path / "shell_history"
    assert path.stat().st_size <= 20_000 and _mode(path) == 0o600
    entries = read_entries(path)
    assert entries[-1] == "question number 1999" and len(entries) < 2000
    assert all(len(e) <= shell_history.MAX_ENTRY for e in entries)


def test_f21_kb_history_0_stores_nothing(tmp_path: Path) -> None:
    assert history_mode("0") is HistoryMode.OFF and history_mode("off") is HistoryMode.OFF
    history = open_history(tmp_path / "data", history_mode("0"))
    history.append_string("how do I remove the pass phrase")
    assert isinstance(history, InMemoryHistory)
    assert not (tmp_path / "data").exists()


def test_f21_questions_mode_skips_pasted_log_excerpts(tmp_path: Path) -> None:
    history = open_history(tmp_path, history_mode("questions"))
    history.append_string("[Tue Mar 05 10:12:01 2024] [ssl:error] [pid 1] AH02565: key=sekrit")
    history.append_string("AH02565: x do not match\nAH02312: Fatal error")
    history.append_string("how do I remove the pass phrase")
    history.append_string(":show 1")
    assert read_entries(tmp_path / "shell_history") == ["how do I remove the pass phrase",
                                                       ":show 1"]


def test_f21_kb_history_reaches_the_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """``kb shell --history off`` and KB_HISTORY=0 reach open_history through the CLI."""
    import frontends.shell as shell_module

    seen: list[HistoryMode] = []

    def recorded(folder: Path, mode: HistoryMode) -> InMemoryHistory:
        seen.append(mode)
        return InMemoryHistory()

    monkeypatch.setattr(shell_module, "open_history", recorded)
    monkeypatch.setattr(shell_module, "prompt_loop", lambda *args, **kwargs: None)
    monkeypatch.setattr("prompt_toolkit.input.create_input", lambda stdin: None)
    monkeypatch.setattr("prompt_toolkit.output.create_output", lambda stdout: None)
    from frontends.cli import Env, main

    for argv, environ in ((["shell"], {"KB_HISTORY": "0"}),
                          (["shell", "--history", "questions"], {}), (["shell"], {})):
        env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
                  environ={"KB_CACHE_DIR": os.environ["KB_CACHE_DIR"], "TERM": "xterm",
                           "KB_DATA_DIR": str(tmp_path), **environ},
                  stdin_isatty=True, stdout_isatty=True)
        assert main(argv, env) == 0
    assert seen == [HistoryMode.OFF, HistoryMode.QUESTIONS, HistoryMode.ALL]


# -- helpers --------------------------------------------------------------------------------------

CPR_REQUEST = "\x1b[6n"


def _pexpect() -> Any:
    return pytest.importorskip("pexpect")


def _spawn(tmp_path: Path, extra: dict[str, str] | None = None) -> Any:
    environ = dict(os.environ, TERM="xterm", KB_CACHE_DIR=os.environ["KB_CACHE_DIR"],
                   KB_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8")
    environ.pop("NO_COLOR", None)
    environ.update(extra or {})
    child = _pexpect().spawn(sys.executable, ["-m", "frontends.cli", "shell"], cwd=str(ROOT),
                             env=environ, dimensions=(24, 100), timeout=60)
    child.logfile_read = io.BytesIO()
    return child


def _leave(child: Any) -> None:
    """At the next prompt, Ctrl-D; cursor-position requests answered until the shell ends."""
    _expect(child, "kb>")
    time.sleep(0.3)  # the prompt is reading keys (typed ahead, they may be dropped)
    child.sendcontrol("d")
    while child.expect_exact([CPR_REQUEST.encode(), _pexpect().EOF]) == 0:
        child.send("\x1b[1;1R")


def _expect(child: Any, pattern: str) -> None:
    """Wait for ``pattern``, answering cursor-position requests as a terminal would."""
    while child.expect_exact([CPR_REQUEST.encode(), pattern.encode()]) == 0:
        child.send("\x1b[1;1R")
