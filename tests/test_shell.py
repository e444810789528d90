"""kb shell: ShellSession.handle in-process, the plain loop, and the prompt_toolkit loop."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import fragment_list_to_text
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from frontends.cli import Env, main
from frontends.completion import _completer, directives
from frontends.history import data_dir, open_history
from frontends.pager import page, styled_lines
from frontends.shell import ShellSession, plain_loop, prompt_loop
from kb import KnowledgeBase

LONG_STEPS = "\n".join(f"{n}. Step {n} of moving the port." for n in range(1, 61))

FAQ = f"""\
# About Certificates

## How do I remove the pass phrase from my private key?

Decrypt it once with `openssl pkey` and point `SSLCertificateKeyFile` at the result.

```kb
id: remove-passphrase
tags: pass phrase, private key
see_also: key-mismatch
questions:
- apache asks for a password at startup
signatures:
- AH02580: Init: Pass phrase incorrect for key
```

## Why does Apache say the key does not match the certificate?

The `SSLCertificateFile` and the key come from different requests. Compare their moduli.

```kb
id: key-mismatch
tags: private key, certificate
see_also: remove-passphrase, listen-port
signatures:
- AH02565: Certificate and private key
```

# About Configuration

## How do I serve HTTPS on another port?

Add `Listen 8443 https` and a matching `<VirtualHost *:8443>`.

{LONG_STEPS}

```kb
id: listen-port
tags: port, Listen
```
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    """Three entries in two sections, built from Markdown written here."""
    folder = tmp_path_factory.mktemp("faq")
    (folder / "faq.md").write_text(FAQ, encoding="utf-8")
    return KnowledgeBase.from_paths([folder])


@pytest.fixture
def pipe() -> Iterator[PipeInput]:
    with create_pipe_input() as pipe_input:
        yield pipe_input


def _session(kb: KnowledgeBase) -> tuple[ShellSession, io.StringIO]:
    out = io.StringIO()
    return ShellSession(kb, out), out


def _run(shell: ShellSession, out: io.StringIO, line: str) -> str:
    out.seek(0)
    out.truncate()
    assert shell.handle(line) is True
    return out.getvalue()


# -- ShellSession.handle ---------------------------------------------------------------------


def test_question_prints_numbered_hits_with_confidence(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    text = _run(shell, out, "how do I remove the pass phrase from my key")
    assert text.startswith("1. How do I remove the pass phrase from my private key?\n")
    assert "id: remove-passphrase · confidence " in text
    assert [e.id for e in shell.listed][0] == "remove-passphrase"


def test_pasted_log_lines_are_one_query(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    paste = ("[ssl:emerg] [pid 1] AH02565: Certificate and private key example.com do not match\n"
             "[ssl:emerg] [pid 1] AH02312: Fatal error initialising mod_ssl, exiting.")
    text = _run(shell, out, paste)
    assert text.startswith("1. Why does Apache say the key does not match the certificate?")
    assert text.count("\n1. ") == 0  # one list, not one per line


def test_number_and_show_print_the_answer(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    _run(shell, out, "remove the pass phrase")
    shown = _run(shell, out, "1")
    assert shown.startswith("# How do I remove the pass phrase from my private key?\n")
    assert "SSLCertificateKeyFile" in shown
    assert "See also: `key-mismatch`" in shown
    assert "```kb" not in shown
    assert _run(shell, out, ":show 1") == shown
    assert _run(shell, out, ":show key-mismatch").startswith("# Why does Apache say the key")


def test_why_shows_signals_and_words(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    _run(shell, out, "AH02580: Init: Pass phrase incorrect for key /etc/ssl/server.key")
    text = _run(shell, out, ":why 1")
    assert text.startswith("How do I remove the pass phrase from my private key?  [remove-pass")
    assert "signature: AH02580: Init: Pass phrase incorrect for key" in text
    assert "code: AH02580" in text
    assert "words: bm25f " in text


def test_why_needs_a_search(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    assert _run(shell, out, ":why 1").startswith(":why needs a search first")
    _run(shell, out, ":sections About Configuration")
    assert _run(shell, out, ":why 1").startswith(":why needs a search first")


def test_related_lists_see_also_and_becomes_the_list(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    _run(shell, out, "key does not match the certificate")
    assert _run(shell, out, ":related 1") == (
        "1. How do I remove the pass phrase from my private key?  [remove-passphrase]\n"
        "2. How do I serve HTTPS on another port?  [listen-port]\n\n"
    )
    assert _run(shell, out, "2").startswith("# How do I serve HTTPS on another port?")
    assert "no related entries" in _run(shell, out, ":related 2")


def test_sections_with_counts_and_entries(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    assert _run(shell, out, ":sections") == "About Certificates (2)\nAbout Configuration (1)\n\n"
    assert _run(shell, out, ":sections about configuration") == (
        "1. How do I serve HTTPS on another port?  [listen-port]\n\n"
    )
    assert _run(shell, out, ":sections Certif").count("\n") == 3  # unique part of a name
    assert _run(shell, out, ":sections nowhere") == "no section 'nowhere'; :sections lists them\n\n"


def test_tags_with_counts_and_entries(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    listing = _run(shell, out, ":tags")
    assert "private key (2)" in listing
    assert "pass phrase (1)" in listing
    assert _run(shell, out, ":tags private key").startswith("1. How do I remove the pass phrase")
    assert "did you mean: port?" in _run(shell, out, ":tags prot")


def test_help_lists_every_command(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    text = _run(shell, out, ":help")
    for command in (":show", ":why", ":related", ":sections", ":tags", ":help", ":quit"):
        assert f"  {command} " in text
    assert _run(shell, out, "?") == text


def test_unknown_command_says_what_to_do(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    assert _run(shell, out, ":shwo 1") == (
        "unknown command ':shwo' (did you mean :show?); :help lists the commands\n\n"
    )


def test_out_of_range_and_missing_numbers(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    assert _run(shell, out, "1") == "no entry 1: there is no list yet; ask a question or :help\n\n"
    _run(shell, out, "pass phrase")
    count = len(shell.listed)
    assert _run(shell, out, ":show 99") == (
        f"no entry 99: the last list has {count}; ask a question or :help\n\n"
    )
    assert _run(shell, out, ":why") == f"give a number: 1 to {count}\n\n"
    assert _run(shell, out, ":show nope") == "kb: no entry with id 'nope'\n\n"


def test_quit_and_blank(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    assert shell.handle("   ") is True
    assert out.getvalue() == ""
    assert shell.handle(":quit") is False
    assert shell.handle(":q") is False


def test_control_characters_are_escaped(small: KnowledgeBase) -> None:
    shell, out = _session(small)
    text = _run(shell, out, ":tags \x1b]0;owned\x07")
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b" in text


def test_long_answer_goes_to_the_pager_short_one_does_not(small: KnowledgeBase) -> None:
    paged: list[str] = []
    out = io.StringIO()
    shell = ShellSession(small, out, size=lambda: (80, 24), pager=paged.append)
    shell.handle(":show listen-port")
    assert len(paged) == 1 and "Step 60 of moving the port." in paged[0]
    assert out.getvalue() == ""
    shell.handle(":show key-mismatch")
    assert len(paged) == 1
    assert out.getvalue().startswith("# Why does Apache say")


def test_rich_rendering_fits_the_width(small: KnowledgeBase) -> None:
    out = io.StringIO()
    shell = ShellSession(small, out, rich=True, size=lambda: (40, 200))
    shell.handle(":show remove-passphrase")
    text = out.getvalue()
    assert "\x1b[" in text and "# How do I" not in text
    visible = [line for line in text.splitlines() if "\x1b" not in line]
    assert all(len(line) <= 40 for line in visible)


def test_shipped_kb_answers_a_question(shipped: KnowledgeBase) -> None:
    shell, out = _session(shipped)
    text = _run(shell, out, "how do I remove the passphrase from my key")
    assert text.startswith("1. ")
    assert "confidence" in text
    assert shell.listed


# -- completion, history -----------------------------------------------------------------


def _completions(kb: KnowledgeBase, text: str) -> list[str]:
    document = Document(text, len(text))
    return [c.text for c in _completer(kb).get_completions(document, CompleteEvent())]


def test_completion_of_commands_names_titles_and_directives(small: KnowledgeBase) -> None:
    assert _completions(small, ":s") == [":show", ":sections"]
    assert _completions(small, ":sections About Conf") == ["About Configuration"]
    assert _completions(small, ":tags pa") == ["pass phrase"]
    assert "How do I serve HTTPS on another port?" in _completions(small, "serve HT")
    assert _completions(small, "what is SSLCertificateK") == ["SSLCertificateKeyFile"]
    assert "Listen" in _completions(small, "Lis")


def test_directives_found_in_answers(small: KnowledgeBase) -> None:
    assert directives(small.entries()) == {
        "SSLCertificateKeyFile", "SSLCertificateFile", "Listen", "VirtualHost",
    }


def test_history_lives_in_the_data_dir(tmp_path: Path) -> None:
    assert data_dir({"KB_DATA_DIR": str(tmp_path / "d")}) == tmp_path / "d"
    history = open_history(tmp_path / "d" / "deeper")
    assert not isinstance(history, InMemoryHistory)
    history.append_string("how do I remove the pass phrase")
    assert (tmp_path / "d" / "deeper" / "shell_history").read_text().count("pass phrase") == 1


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions")
def test_unwritable_data_dir_falls_back_to_memory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        history = open_history(locked / "kb")
    finally:
        locked.chmod(0o700)
    assert isinstance(history, InMemoryHistory)


def test_file_in_the_way_falls_back_to_memory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    assert isinstance(open_history(tmp_path / "file" / "kb"), InMemoryHistory)


# -- loops -------------------------------------------------------------------------------


def test_plain_loop_reads_line_by_line(small: KnowledgeBase) -> None:
    out = io.StringIO()
    plain_loop(ShellSession(small, out), io.StringIO("pass phrase\n\n1\n:quit\n:help\n"))
    text = out.getvalue()
    assert text.startswith("1. How do I remove the pass phrase")
    assert "# How do I remove the pass phrase from my private key?" in text
    assert ":sections" not in text  # stopped at :quit


def test_cli_shell_without_a_terminal_uses_the_plain_loop(
    tmp_path: Path, small: KnowledgeBase
) -> None:
    (tmp_path / "faq.md").write_text(FAQ, encoding="utf-8")
    env = Env(stdin=io.StringIO("key does not match\n:related 1\n"), stdout=io.StringIO(),
              stderr=io.StringIO(), environ={"TERM": "xterm"})
    code = main(["shell", "--no-default", "--kb", str(tmp_path / "faq.md")], env)
    assert code == 0
    text = env.stdout.getvalue()  # type: ignore[attr-defined]
    assert "kb>" not in text and "kb shell" not in text
    assert text.startswith("1. Why does Apache say the key does not match the certificate?")
    assert "1. How do I remove the pass phrase from my private key?  [remove-passphrase]" in text
    assert env.stderr.getvalue() == ""  # type: ignore[attr-defined]


def test_cli_shell_in_a_dumb_terminal_prompts_plainly(tmp_path: Path) -> None:
    (tmp_path / "faq.md").write_text(FAQ, encoding="utf-8")
    env = Env(stdin=io.StringIO("port\n"), stdout=io.StringIO(), stderr=io.StringIO(),
              environ={"TERM": "dumb"}, stdin_isatty=True, stdout_isatty=True)
    assert main(["shell", "--no-default", "--kb", str(tmp_path / "faq.md")], env) == 0
    text = env.stdout.getvalue()  # type: ignore[attr-defined]
    assert text.startswith("kb> 1. How do I serve HTTPS on another port?")
    assert "\x1b" not in text


def test_prompt_loop_question_number_and_ctrl_d(small: KnowledgeBase, pipe: PipeInput) -> None:
    pipe.send_text("key does not match the certificate\r")
    pipe.send_text("1\r")
    pipe.send_text("\x04")
    out = io.StringIO()
    prompt_loop(small, out, history=InMemoryHistory(), term_in=pipe, term_out=DummyOutput())
    text = out.getvalue()
    assert text.startswith(f"kb shell: {small.name}, 3 entries.")
    assert "\n1. Why does Apache say the key does not match the certificate?\n" in text
    assert "\n# Why does Apache say the key does not match the certificate?\n" in text


def test_prompt_loop_bracketed_paste_is_one_input(small: KnowledgeBase, pipe: PipeInput) -> None:
    history = InMemoryHistory()
    pipe.send_text("\x1b[200~AH02565: Certificate and private key x do not match\n"
                   "AH02312: Fatal error initialising mod_ssl, exiting.\x1b[201~\r")
    pipe.send_text("\x03")  # Ctrl-C: drops the input, keeps the shell
    pipe.send_text(":quit\r")
    out = io.StringIO()
    seconds = iter(range(1_000_000))  # each key a second after the last: a person typing
    prompt_loop(small, out, history=history, term_in=pipe, term_out=DummyOutput(),
                clock=lambda: float(next(seconds)))
    assert out.getvalue().count("\n1. ") == 1
    assert history.get_strings()[0].count("\n") == 1
    assert history.get_strings()[-1] == ":quit"


def test_prompt_loop_pages_a_long_answer_and_q_returns(
    small: KnowledgeBase, pipe: PipeInput
) -> None:
    pipe.send_text(":show listen-port\r")
    pipe.send_text("G")  # to the end of the pager, then back
    pipe.send_text("q")
    pipe.send_text(":show remove-passphrase\r")
    pipe.send_text("\x04")
    out = io.StringIO()
    prompt_loop(small, out, history=InMemoryHistory(), term_in=pipe, term_out=DummyOutput())
    text = out.getvalue()
    assert "Step 60" not in text  # the long answer went to the pager, not the stream
    assert "# How do I remove the pass phrase from my private key?" in text


def test_pager_shows_coloured_text_and_quits(pipe: PipeInput) -> None:
    pipe.send_text(" bq")
    coloured = "\x1b[1mbold\x1b[0m \x1b]8;id=1;https://x\x1b\\link\x1b]8;;\x1b\\\n" * 100
    page(coloured, term_in=pipe, term_out=DummyOutput())
    first = styled_lines(coloured)[0]
    assert fragment_list_to_text(first) == "bold link"
    assert first[0] == ("bold", "b")


class _InterruptedOnce(io.StringIO):
    """A terminal where the user presses Ctrl-C at the first read."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.pressed = False

    def readline(self, size: int | None = -1) -> str:  # type: ignore[override]
        if not self.pressed:
            self.pressed = True
            raise KeyboardInterrupt
        return super().readline()


def test_plain_loop_ctrl_c_cancels_on_a_terminal_stops_a_pipe(small: KnowledgeBase) -> None:
    out = io.StringIO()
    plain_loop(ShellSession(small, out), _InterruptedOnce(":help\n"), prompt="kb> ")
    assert out.getvalue().startswith("kb> \nkb> Type a question")
    with pytest.raises(KeyboardInterrupt):
        plain_loop(ShellSession(small, io.StringIO()), _InterruptedOnce(":help\n"))
