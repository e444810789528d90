"""Adversarial round 2 (issue 18), terminal and locale: F1, F2, F3, F23 of
../shared/reviews/reliability-review.md, and ids from a planted index (F17's second half).

Bytes that are not UTF-8 reach kb through stdin and argv. In a C, POSIX or C.UTF-8 locale
Python hands them over as lone surrogates and writes them back raw (0x9b is CSI on an 8-bit
terminal, C0 9B an overlong ESC); in a strict UTF-8 locale the same bytes raised. The streams
below are those of each locale (``errors`` is what Python picks for it), so every case runs
in-process; one subprocess per locale checks the real start-up.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontends.cli import Env, main
from frontends.render import clean, hit_lines
from frontends.streams import read_line, read_query
from kb import Entry, Hit, KnowledgeBase

ROOT = Path(__file__).resolve().parent.parent
# What must never reach a terminal: C0 but newline and tab, DEL, C1, bidi controls, line
# separators (checked on the decoded output, which must itself be valid UTF-8).
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e"
                       "\u2066-\u2069\ud800-\udfff]")
LOCALES = {"c-utf8": "surrogateescape", "en_US.UTF-8": "strict"}
EVIL = b"AH02565: key \x9b31m \x9d0;pwn\x07 \xc0\x9b[2J \xe0\x80\x9b]0;t\x07 \xff do not match"


def run_bytes(argv: list[str], stdin: bytes = b"", *, errors: str = "surrogateescape"
              ) -> tuple[int, bytes, bytes]:
    """The CLI in-process over byte streams decoded and encoded as in a locale whose error
    handler is ``errors``; (exit code, stdout bytes, stderr bytes)."""
    out, err = io.BytesIO(), io.BytesIO()
    stdin_text = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8", errors=errors)
    stdout = io.TextIOWrapper(out, encoding="utf-8", errors=errors, write_through=True)
    stderr = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace",
                              write_through=True)
    env = Env(stdin=stdin_text, stdout=stdout, stderr=stderr,
              environ={"NO_COLOR": "1", "KB_CACHE_DIR": os.environ["KB_CACHE_DIR"]},
              stdout_isatty=False, stdin_isatty=False)
    code = main(argv, env)
    return int(code), out.getvalue(), err.getvalue()


def assert_terminal_safe(*outputs: bytes) -> None:
    """Valid UTF-8 with no control character, surrogate or bidi override in it."""
    for data in outputs:
        text = data.decode("utf-8")  # raises on a raw byte that is not UTF-8 (0x9b, C0 9B)
        found = FORBIDDEN.search(text)
        assert found is None, f"{found.group()!r} in {text[max(0, found.start() - 40):][:80]!r}"


def argv_of(data: bytes) -> str:
    """A command-line argument as Python hands it over (bytes not UTF-8 as surrogates)."""
    return os.fsdecode(data)


# -- F1 / F2: lone surrogates and strict locales -----------------------------------------------


@pytest.mark.parametrize("errors", LOCALES.values(), ids=LOCALES.keys())
def test_f1_f2_explain_stdin_with_c1_and_overlong_escapes(errors: str) -> None:
    code, out, err = run_bytes(["explain", "-"], EVIL + b"\n", errors=errors)
    assert code == 0, err
    assert b"template: AH02565: key " in out
    assert_terminal_safe(out, err)


@pytest.mark.parametrize("errors", LOCALES.values(), ids=LOCALES.keys())
def test_f1_f2_explain_argument(errors: str) -> None:
    code, out, err = run_bytes(["explain", argv_of(EVIL)], errors=errors)
    assert code == 0, err
    assert_terminal_safe(out, err)


@pytest.mark.parametrize("errors", LOCALES.values(), ids=LOCALES.keys())
def test_f1_explain_100k_random_bytes(errors: str) -> None:
    noise = random.Random(18).randbytes(100_000)
    code, out, err = run_bytes(["explain", "-"], noise, errors=errors)
    assert code in (0, 1), err
    assert_terminal_safe(out, err)


@pytest.mark.parametrize("errors", LOCALES.values(), ids=LOCALES.keys())
def test_f2_search_stdin_with_invalid_utf8(errors: str) -> None:
    code, out, err = run_bytes(["search", "-"], b"AH02565 \xff\xfe do not match\n",
                               errors=errors)
    assert code == 0, err
    assert b"key-cert-match" in out
    assert_terminal_safe(out, err)


@pytest.mark.parametrize("errors", LOCALES.values(), ids=LOCALES.keys())
def test_f1_f2_search_json_is_ascii_without_surrogates(errors: str) -> None:
    code, out, err = run_bytes(["search", "--json", argv_of(EVIL)], errors=errors)
    assert code == 0, err
    assert out.isascii() and b"\\udc" not in out.lower()
    assert json.loads(out)["query"].startswith("AH02565: key \ufffd31m")


@pytest.mark.parametrize("errors", LOCALES.values(), ids=LOCALES.keys())
def test_f1_f2_shell_unknown_command_and_next_line(errors: str) -> None:
    code, out, err = run_bytes(["shell"], b":\x9b31m\nAH02565 do not match\n", errors=errors)
    assert code == 0, err
    assert b"unknown command" in out and b"key-cert-match" in out  # line 2 still answered
    assert_terminal_safe(out, err)


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(blacklist_categories=()), max_size=100))
def test_clean_escapes_lone_surrogates_and_separators(text: str) -> None:
    cleaned = clean(text, keep_newlines=False)
    assert FORBIDDEN.search(cleaned) is None
    cleaned.encode("utf-8")  # strict: nothing left that a strict locale refuses


def test_clean_shows_the_byte_behind_a_surrogate() -> None:
    assert clean(argv_of(b"\x9b31m \xc0\x9b")) == "\\x9b31m \\xc0\\x9b"
    assert clean("a\u2028b\u2029c") == "a\\u2028b\\u2029c"


@pytest.mark.parametrize("encoding", ["", "utf-8:strict"], ids=["c-utf8", "strict"])
def test_f1_f2_real_process_in_each_locale(encoding: str, tmp_path: Path) -> None:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "LC_ALL": "C.UTF-8"}
    if encoding:
        environ["PYTHONIOENCODING"] = encoding
    done = subprocess.run([sys.executable, "-m", "frontends.cli", "explain", EVIL],
                          capture_output=True, env=environ, cwd=tmp_path, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert_terminal_safe(done.stdout, done.stderr)


# -- F3: bounded reads -----------------------------------------------------------------------


class Endless(io.RawIOBase):
    """/dev/zero: endless NUL bytes (or ``byte``), counting what was read."""

    def __init__(self, byte: bytes = b"\0") -> None:
        self.byte = byte
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        size = min(len(buffer), 1 << 16)
        buffer[:size] = self.byte * size
        self.given += size
        return size


def _endless_env(source: Endless) -> Env:
    raw = io.BufferedReader(source)
    return Env(stdin=io.TextIOWrapper(raw, encoding="utf-8"), stdout=io.StringIO(),
               stderr=io.StringIO(), stdin_binary=raw, stdout_isatty=False, stdin_isatty=False,
               environ={"NO_COLOR": "1", "KB_CACHE_DIR": os.environ["KB_CACHE_DIR"]})


@pytest.mark.parametrize("command", ["search", "explain"])
def test_f3_query_from_dev_zero_is_read_up_to_the_cap(command: str) -> None:
    source = Endless()
    env = _endless_env(source)
    code = main([command, "--no-semantic", "-"] if command == "search" else [command, "-"], env)
    assert code in (0, 1)
    assert source.given <= 4 * 100_000 + 4 + (1 << 16)  # the cap, and one read ahead


def test_f3_json_echoes_the_capped_query() -> None:
    source = Endless(b"A")
    env = _endless_env(source)
    assert main(["search", "--json", "--no-semantic", "-"], env) in (0, 1)
    query = json.loads(env.stdout.getvalue())["query"]  # type: ignore[attr-defined]
    assert query == "A" * 100_000


def test_f3_a_long_shell_line_is_cut_and_the_next_one_read() -> None:
    data = io.BufferedReader(io.BytesIO(b"x" * 1_000_000 + b"\nAH02565 do not match\n"))
    first = read_line(io.StringIO(), data)
    assert len(first) == 100_001 and first.endswith("\n")
    assert read_line(io.StringIO(), data) == "AH02565 do not match\n"
    text = io.StringIO("y" * 300_000 + "\nnext\n")
    assert len(read_line(text)) == 100_001 and read_line(text) == "next\n"


def test_f3_read_query_text_stream() -> None:
    assert read_query(io.StringIO("z" * 200_000)) == "z" * 100_000


# -- F23 and planted ids: names printed raw ----------------------------------------------------


def test_f23_lint_escapes_the_path(tmp_path: Path) -> None:
    folder = tmp_path / "esc\x1b]0;PWNED\x07dir"
    folder.mkdir()
    (folder / "faq.md").write_text("## Why?\n\nBecause.\n", encoding="utf-8")
    code, out, err = run_bytes(["lint", str(folder)])
    assert code == 0, err
    assert b"ok: " in out and b"esc\\x1b]0;PWNED\\x07dir" in out
    assert_terminal_safe(out, err)


def test_f23_diagnose_summary_escapes_file_names(tmp_path: Path) -> None:
    log = tmp_path / "a\x1b[2Jb.log"
    log.write_text("[Tue Mar 05 10:12:01 2024] [ssl:error] [pid 1] AH02565: x\n",
                   encoding="utf-8")
    for flags in ([], ["--brief"]):
        code, out, err = run_bytes(["diagnose", *flags, str(log)])
        assert code == 1, err
        assert_terminal_safe(out, err)


def test_f17_an_id_that_skipped_validation_is_printed_escaped(shipped: KnowledgeBase) -> None:
    hit = shipped.search("AH02565", limit=1)[0]
    planted = Entry.model_construct(**{**dict(hit.entry), "id": "x\x1b]0;PWNED\x07\x1b[2J"})
    lines = hit_lines([Hit.model_construct(**{**dict(hit), "entry": planted})],
                      confident_at=0.5)
    assert_terminal_safe("\n".join(lines).encode())


def test_no_command_opens_a_network_connection(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """Never sent anywhere: search, explain, show and diagnose with every outbound
    connection refused (and counted) still answer, and none was tried."""
    import socket

    tried: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        tried.append(address)
        raise OSError("kb tried to connect")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    line = ("[Tue Mar 05 10:12:01.123456 2024] [ssl:emerg] [pid 1] AH02565: Certificate and "
            "private key www.example.com:443:0 from /a.crt and /a.key do not match")
    log = tmp_path / "error.log"
    log.write_text(line + "\n", encoding="utf-8")
    for argv, want in ((["search", line], 0), (["explain", line], 0),
                       (["show", "key-cert-match"], 0), (["diagnose", str(log)], 1)):
        code, _, err = run_bytes(argv)
        assert code == want, (argv, err)
    assert tried == []
