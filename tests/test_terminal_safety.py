"""Terminal safety (issue 7): no byte of a log line or a content file reaches the terminal as a
control sequence, in any frontend and in JSON.

Crafted input carries CSI, OSC (8 hyperlinks, 52 clipboard, 0 window title), DCS, C1 controls,
BEL, backspace, carriage return, DEL and bidi overrides. Output to a pipe (NO_COLOR) must hold
none of them; output on a forced TTY may hold rich's own SGR styling, and nothing else.
"""

from __future__ import annotations

import io
import json
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontends.cli import Env, main
from frontends.render import clean, dumps

PAYLOADS: dict[str, str] = {
    "csi-colour": "\x1b[31mRED\x1b[0m",
    "csi-clear": "\x1b[2J\x1b[H",
    "osc8-link": "\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\",
    "osc52-clipboard": "\x1b]52;c;ZXZpbA==\x07",
    "osc0-title": "\x1b]0;pwned\x07",
    "dcs": "\x1bPq#0\x1b\\",
    "c1-csi": "\x9b31m",
    "c1-osc": "\x9d52;c;ZXZpbA==\x9c",
    "bel": "ding\x07",
    "backspace": "abc\x08\x08\x08xyz",
    "del": "x\x7fy",
    "bidi-override": "\u202eevil\u202c",
    "bidi-isolate": "\u2066x\u2069",
}
# Only in logs: a content file cannot hold NUL (compiler error) and CR ends its line.
LOG_ONLY = {"nul": "a\x00b", "carriage-return": "safe\rOVERWRITE"}
CONTENT_EVIL = "".join(PAYLOADS.values())
LOG_EVIL = CONTENT_EVIL + "".join(LOG_ONLY.values())
# What must never reach a terminal: C0 but newline and tab, DEL, C1, bidi controls.
FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
SGR = re.compile(r"\x1b\[[0-9;]*m")
# rich's hyperlinks for the content's own Markdown links: ESC ] 8 ; params ; URL ESC \
OSC8 = re.compile(r"\x1b\]8;[^;\x1b\x07]*;([\x21-\x7e]*)\x1b\\")
CONTENT_LINK = "https://example.org/docs"
# Markers of the crafted payloads: none may follow an ESC or a C1 introducer.
MARKERS = ("]52;", "]8;;http://evil", "]0;pwned", "[31mRED", "[2J", "Pq#0", "\x9b31m")

APACHE = "[Tue Mar 05 10:12:01.123456 2024] [ssl:error] [pid 4242:tid 7] [client 192.0.2.7:5] "


def _lines(evil: str) -> list[str]:
    """Hostile log lines: the payload in every place a parser looks."""
    return [
        f"{APACHE}AH02039: KBEVILSIG {evil}",
        f"{APACHE}KBEVILSIG failed {evil}",
        f"[Tue\x1b[2J Mar 05 10:12:01 2024] [ssl:error] [pid 1] KBEVILSIG x {evil}",
        f"Mar  5 10:12:01 host httpd[42]: KBEVILSIG {evil}",
        f"{APACHE}failed to do {evil} cannot",
        f"{APACHE}{evil} segmentation fault",
    ]


def _openssl_lines(evil: str) -> list[str]:
    """Lines whose OpenSSL reason text itself carries the payload."""
    return [
        f"{APACHE}SSL Library Error: error:0A0000C1:SSL routines::no shared{evil}",
        f"SSL_accept failed: ('SSL routines', 'f', 'no {evil} cipher')",
    ]


def _run(argv: list[str], stdin: str = "", *, tty: bool = False,
         environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    env = Env(stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=io.StringIO(),
              environ={"NO_COLOR": "1"} if environ is None else environ,
              stdout_isatty=tty, stdin_isatty=False)
    code = main(argv, env)
    return int(code), env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def assert_clean(*texts: str) -> None:
    """No forbidden character in any of ``texts`` (shows which, and where)."""
    for text in texts:
        found = FORBIDDEN.search(text)
        if found is not None:
            context = text[max(0, found.start() - 60):found.start() + 20]
            pytest.fail(f"{found.group()!r} at {found.start()}: {context!r}")


def assert_tty_clean(text: str) -> None:
    """Only rich's SGR styling and the content's own links; no crafted payload in an escape."""
    for marker in MARKERS:
        assert "\x1b" + marker not in text and "\x1b" + marker[1:] not in text
    for link in OSC8.finditer(text):
        assert link.group(1) in ("", CONTENT_LINK) or link.group(1).startswith(
            "https://example.org/%5Cx1b"), link.group()
    assert_clean(SGR.sub("", OSC8.sub("", text)))


EVIL_MD = textwrap.dedent("""\
    # Evil {e} section

    ## Why is {e} evil?

    Answer {e} text with `code {e}` and **bold {e}**; [the docs](https://example.org/docs),
    [a crafted link](https://example.org/{e}) and [no link](javascript:alert(1)).

    > quote {e}

    ```
    block {e}
    ```

    - item {e}

    ```kb
    id: evil-entry
    tags: kbeviltag, tag {e}
    questions:
    - question {e}
    signatures:
    - KBEVILSIG
    see_also: other-entry
    ```

    ## What is the other {e} entry?

    Other {e} answer.

    ```kb
    id: other-entry
    tags: kbeviltag
    ```
    """)


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``--no-default --kb DIR`` for a content folder full of crafted sequences."""
    folder = tmp_path_factory.mktemp("evil")
    (folder / "evil.md").write_text(EVIL_MD.replace("{e}", CONTENT_EVIL), encoding="utf-8")
    return ["--no-default", "--kb", str(folder)]


# -- the sanitiser itself --------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=200), st.booleans())
def test_clean_leaves_no_control_characters(text: str, keep_newlines: bool) -> None:
    cleaned = clean(text, keep_newlines=keep_newlines)
    assert_clean(cleaned)
    if not keep_newlines:
        assert "\n" not in cleaned


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.text(st.characters(codec="utf-8")) | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=12))
def test_json_is_ascii_and_round_trips(data: object) -> None:
    text = dumps(data)
    assert text.isascii() and FORBIDDEN.search(text) is None
    assert json.loads(text) == data


def test_clean_escapes_every_bidi_control() -> None:
    bidi_controls = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
    assert clean(bidi_controls).isascii()


# -- kb search / show / explain --------------------------------------------------------------


@pytest.mark.parametrize("json_out", [False, True], ids=["text", "json"])
def test_search(evil: list[str], json_out: bool) -> None:
    flags = ["--json"] if json_out else []
    for query in (f"KBEVILSIG {LOG_EVIL}", *_lines(LOG_EVIL), *_openssl_lines(LOG_EVIL)):
        code, out, err = _run(["search", *evil, *flags, query])
        assert code in (0, 1), err
        assert_clean(out, err)
        if json_out:
            assert out.isascii() and json.loads(out)["query"] == query
    code, out, err = _run(["search", *evil, "-"], "\n".join(_lines(LOG_EVIL)))
    assert code == 0 and "evil-entry" in out
    assert_clean(out, err)


@pytest.mark.parametrize("raw", [False, True], ids=["rendered", "raw"])
def test_show_crafted_content(evil: list[str], raw: bool) -> None:
    code, out, err = _run(["show", *evil, "evil-entry", *(["--raw"] if raw else [])])
    assert code == 0 and err == ""
    assert "\\x1b]52;c;ZXZpbA==\\x07" in out  # shown, harmless, as text
    assert_clean(out)


def test_show_crafted_content_on_a_tty(evil: list[str]) -> None:
    code, out, err = _run(["show", *evil, "evil-entry"], tty=True,
                          environ={"TERM": "xterm-256color"})
    assert code == 0 and err == ""
    assert "\x1b[" in out  # rich styled it
    assert_tty_clean(out)


def test_explain(evil: list[str]) -> None:
    for argv in (["explain", *evil], ["explain"]):
        for line in (f"KBEVILSIG {LOG_EVIL}", *_lines(LOG_EVIL)):
            code, out, err = _run([*argv, line])
            assert code in (0, 1), err
            assert_clean(out, err)


def test_explain_json(evil: list[str]) -> None:
    for line in (*_lines(LOG_EVIL), *_openssl_lines(LOG_EVIL)):
        code, out, err = _run(["explain", *evil, "--json", line])
        assert code in (0, 1), err
        assert out.isascii()
        assert_clean(out, err)
        json.loads(out)


@pytest.mark.parametrize("line", _openssl_lines(PAYLOADS["osc52-clipboard"]),
                         ids=["openssl-3x", "pyopenssl-tuple"])
def test_explain_escapes_openssl_reasons(line: str) -> None:
    code, out, err = _run(["explain", line])
    assert_clean(out, err)


# -- kb diagnose -----------------------------------------------------------------------------


def _log() -> str:
    return "\n".join(_lines(LOG_EVIL) + _openssl_lines(LOG_EVIL)) + "\n"


@pytest.mark.parametrize("flags", [[], ["--brief"], ["--json"]], ids=["text", "brief", "json"])
def test_diagnose_stdin(evil: list[str], flags: list[str]) -> None:
    code, out, err = _run(["diagnose", *evil, *flags], _log())
    assert code == 1, err  # problems found
    assert "evil-entry" in out
    assert_clean(out, err)
    if flags == ["--json"]:
        assert out.isascii()
        assert [json.loads(line)["type"] for line in out.splitlines()][-1] == "summary"


def test_diagnose_file_bytes(evil: list[str], tmp_path: Path) -> None:
    """Raw bytes: 8-bit C1 (invalid UTF-8), UTF-8-encoded C1, a lone ESC and NUL."""
    log = tmp_path / "error.log"
    raw = (APACHE.encode() + b"KBEVILSIG \x9b31m \xc2\x9b31m \xc2\x9d52;c;x\x07 \x1b]0;t\x07 \x00\n"
           + _log().encode())
    log.write_bytes(raw)
    for flags in ([], ["--json"]):
        code, out, err = _run(["diagnose", *evil, *flags, str(log)])
        assert code == 1, err
        assert_clean(out, err)


def test_diagnose_unmatched_file(evil: list[str], tmp_path: Path) -> None:
    stub = tmp_path / "unmatched.md"
    code, out, err = _run(["diagnose", *evil, "--unmatched", str(stub)], _log())
    assert code == 1, err
    text = stub.read_text(encoding="utf-8")
    assert "segmentation fault" in text
    assert_clean(out, err, text)


def test_diagnose_on_a_tty(evil: list[str]) -> None:
    code, out, err = _run(["diagnose", *evil], _log(), tty=True,
                          environ={"TERM": "xterm-256color"})
    assert code == 1, err
    assert_tty_clean(out)
    assert_clean(err)


# -- kb lint, errors and warnings ------------------------------------------------------------


def test_lint_messages(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "bad.md").write_text(
        f"# S\n\n## Q {CONTENT_EVIL}?\n\nA.\n\n```kb\n{CONTENT_EVIL}\nsignatures:\n"
        f"- re: ({CONTENT_EVIL}\nexamples:\n- {CONTENT_EVIL}\n"
        f"see_also: no-such-{CONTENT_EVIL}\n```\n",
        encoding="utf-8",
    )
    code, out, err = _run(["lint", str(folder)])
    assert code == 1 and out.count("bad.md:") >= 2
    assert_clean(out, err)
    code, out, err = _run(["build", str(folder)])
    assert code == 3 and err.startswith("kb: error: ")
    assert_clean(out, err)


def test_error_messages_carry_no_sequences(evil: list[str]) -> None:
    for argv in (["show", *evil, f"evil-{LOG_EVIL}"],
                 ["diagnose", *evil, f"/nonexistent/{LOG_EVIL}.log"],
                 ["search", "--kb", f"/nonexistent/{LOG_EVIL}", "x"],
                 ["search", "-n", LOG_EVIL, "x"],
                 [f"--{LOG_EVIL}"],
                 ["search", *evil, LOG_EVIL.replace("a\x00b", " ")]):
        code, out, err = _run(argv)
        assert code in (0, 1, 2, 3, 4, 5)
        assert "Traceback" not in err
        assert_clean(out, err)


def test_warning_about_broken_content_is_clean(tmp_path: Path, cache_dir: Path) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    page = folder / "faq.md"
    page.write_text("# S\n\n## Why KBEVILSIG?\n\nBecause.\n\n```kb\nsignatures:\n"
                    "- KBEVILSIG\n```\n", encoding="utf-8")
    assert _run(["search", "--no-default", "--kb", str(folder), "KBEVILSIG"])[0] == 0
    page.write_text(page.read_text(encoding="utf-8") + f"\n## {CONTENT_EVIL}\n\n```kb\n"
                    f"{CONTENT_EVIL}: x\n```\n", encoding="utf-8")
    code, out, err = _run(["search", "--no-default", "--kb", str(folder), "KBEVILSIG"])
    assert code == 0 and err.startswith("kb: warning: ")
    assert_clean(out, err)


# -- kb shell (in-process session) -----------------------------------------------------------

SHELL_INPUT = "\n".join([
    f"KBEVILSIG {LOG_EVIL}", "1", ":why 1", ":related 1", ":tags", ":tags kbeviltag",
    ":sections", f":sections {CONTENT_EVIL}", ":show evil-entry", f":show evil-{CONTENT_EVIL}",
    f":{CONTENT_EVIL}", f":why {CONTENT_EVIL}", f"{CONTENT_EVIL}", *_lines(LOG_EVIL), ":help",
]) + "\n"


def test_shell_session(evil: list[str]) -> None:
    code, out, err = _run(["shell", *evil], SHELL_INPUT)
    assert code == 0, err
    assert "evil-entry" in out
    assert_clean(out, err)


def test_shell_session_with_rich_output(evil: list[str]) -> None:
    code, out, err = _run(["shell", *evil], SHELL_INPUT, tty=True,
                          environ={"TERM": "xterm-256color"})
    assert code == 0, err
    assert "\x1b[" in out  # :show rendered with rich
    assert_tty_clean(out)
    assert_clean(err)
