"""``kb shell``: ask questions and paste log lines at a prompt, then read, explain and browse.

``ShellSession.handle`` does all command dispatch and printing, so it runs in-process in tests.
Around it sit two loops: ``prompt_loop`` (prompt_toolkit: history, completion, suggestions,
a bottom toolbar, bracketed paste as one input, a pager for long answers) for a real terminal,
and ``plain_loop`` (one input per line, no prompt_toolkit) for pipes and ``TERM=dumb``.
"""

from __future__ import annotations

import difflib
import io
import textwrap
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import IO, TYPE_CHECKING, TextIO, cast

from frontends.completion import _completer
from frontends.history import data_dir, history_mode, open_history
from frontends.pager import page
from frontends.render import clean, entry_markdown, hit_lines, write_markdown
from frontends.render import why_lines as render_why
from frontends.streams import binary, from_argv, read_line
from kb import Entry, Hit, KbError, KnowledgeBase

if TYPE_CHECKING:
    from prompt_toolkit.history import History
    from prompt_toolkit.input import Input
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
    from prompt_toolkit.output import Output

    from frontends.cli import Env

Pager = Callable[[str], None]
Size = Callable[[], tuple[int, int]]  # (columns, rows) of the terminal

LIMIT = 5
PROMPT = "kb> "

COMMANDS: dict[str, tuple[str, str]] = {  # name: (arguments, what it does)
    ":show": ("N", "read answer N (N alone does the same; or :show ID)"),
    ":why": ("N", "why answer N matched: exact signals and words"),
    ":related": ("N", "the entries related to answer N"),
    ":sections": ("[NAME]", "list the sections, or the entries of one"),
    ":tags": ("[NAME]", "list the tags, or the entries with one"),
    ":help": ("", "this help"),
    ":quit": ("", "leave the shell (also Ctrl-D)"),
}
_ALIASES = {":q": ":quit", ":exit": ":quit", ":h": ":help", "?": ":help"}


def _line(text: str) -> str:
    return clean(text, keep_newlines=False)


@dataclass
class ShellSession:
    """One shell: the knowledge base, the last numbered list and where output goes."""

    kb: KnowledgeBase
    out: IO[str]
    rich: bool = False
    size: Size | None = None
    pager: Pager | None = None
    listed: list[Entry] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)

    def handle(self, line: str) -> bool:
        """Run one input (a command, a number, or text to search); False means quit. Input is
        cut to what kb searches of a query, bytes that were not UTF-8 as U+FFFD."""
        from kb import MAX_QUERY_CHARS

        text = from_argv(line[:MAX_QUERY_CHARS]).strip()
        if not text:
            return True
        name, _, arg = text.partition(" ") if text.startswith((":", "?")) else ("", "", "")
        name = _ALIASES.get(name, name)
        if name == ":quit":
            return False
        try:
            self._dispatch(text, name, arg.strip())
        except KbError as exc:
            self._say(f"kb: {_line(str(exc))}")
        self.out.flush()
        return True

    def _dispatch(self, text: str, name: str, arg: str) -> None:
        actions: dict[str, Callable[[str], None]] = {
            ":show": self.show,
            ":why": self.why,
            ":related": self.related,
            ":sections": self.sections,
            ":tags": self.tags,
            ":help": self.help,
        }
        if text.isdigit():
            self.show(text)
        elif not name:
            self.search(text)
        elif name in actions:
            actions[name](arg)
        else:
            close = difflib.get_close_matches(name, list(COMMANDS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self._say(f"unknown command '{_line(name)}'{hint}; :help lists the commands")

    # -- commands --------------------------------------------------------------------------

    def search(self, text: str) -> None:
        """Numbered hits for a question or pasted log lines."""
        from kb import CONFIDENT

        self.hits = self.kb.search(text, limit=LIMIT)
        self.listed = [hit.entry for hit in self.hits]
        if not self.hits:
            self._say("no entry matches; try other words, or browse with :sections and :tags")
            return
        lines = hit_lines(self.hits, confident_at=CONFIDENT)
        if not self.hits[0].confident:
            lines.append("(no confident answer; these are the closest entries)")
        self._say(*lines)

    def show(self, arg: str) -> None:
        """Answer N as Markdown, in the pager when it is taller than the terminal."""
        entry = self._pick(arg)
        if entry is None:
            return
        rendered = io.StringIO()
        width = self._width() if self.size else None
        write_markdown(rendered, entry_markdown(entry), rich=self.rich, width=width)
        text = rendered.getvalue()
        if self.pager and self.size and text.count("\n") >= self.size()[1] - 1:
            self.pager(text)
        else:
            self.out.write(text + "\n")

    def why(self, arg: str) -> None:
        """Why search hit N matched: exact signals, then the best-scoring words."""
        if not self.hits:  # the last list came from browsing, or there is none yet
            self._say(":why needs a search first: type a question or paste a log line")
            return
        number = self._number(arg, len(self.hits))
        if number is not None:
            self._say(*why_lines(self.hits[number - 1]))

    def related(self, arg: str) -> None:
        """The see-also entries of answer N, as the new numbered list."""
        entry = self._pick(arg)
        if entry is None:
            return
        found = [e for e in self.kb.entries() if e.id in entry.see_also]
        found.sort(key=lambda e: entry.see_also.index(e.id))
        if not found:
            self._say(f"'{_line(entry.title)}' lists no related entries")
            return
        self._list(found)

    def sections(self, arg: str) -> None:
        """Sections with entry counts, or the entries of section ``arg``."""
        self._browse(arg, lambda e: [e.section] if e.section else [], "section")

    def tags(self, arg: str) -> None:
        """Tags with entry counts, or the entries tagged ``arg``."""
        self._browse(arg, lambda e: e.tags, "tag")

    def help(self, arg: str = "") -> None:
        """The command list."""
        lines = ["Type a question or paste log lines to search. Numbers refer to the last list."]
        lines += [f"  {f'{name} {args}':<16} {does}" for name, (args, does) in COMMANDS.items()]
        lines.append("Ctrl-C cancels the current input; Ctrl-D leaves.")
        self._say(*lines)

    # -- helpers ---------------------------------------------------------------------------

    def _say(self, *lines: str) -> None:
        self.out.write("\n".join(lines) + "\n\n")

    def _number(self, arg: str, count: int) -> int | None:
        if not arg.isdigit():
            self._say(f"give a number: 1 to {count}" if count else "no list yet: ask a question")
            return None
        if not 1 <= int(arg) <= count:
            what = f"the last list has {count}" if count else "there is no list yet"
            self._say(f"no entry {_line(arg)}: {what}; ask a question or :help")
            return None
        return int(arg)

    def _pick(self, arg: str) -> Entry | None:
        if arg and not arg.isdigit():
            return self.kb.get(arg)  # an id; UnknownEntryError says what is close
        number = self._number(arg, len(self.listed))
        return None if number is None else self.listed[number - 1]

    def _list(self, entries: list[Entry]) -> None:
        self.listed, self.hits = entries, []
        self._say(*(f"{n}. {_line(e.title)}  [{_line(e.id)}]" for n, e in enumerate(entries, 1)))

    def _browse(self, arg: str, keys: Callable[[Entry], Iterable[str]], noun: str) -> None:
        groups = group_entries(self.kb.entries(), keys)
        if not arg:
            names = [f"{_line(name)} ({len(entries)})" for name, entries in groups.items()]
            if noun == "section":
                self._say(*names)
            else:
                self._say(*textwrap.wrap(", ".join(names), self._width(), break_on_hyphens=False))
            return
        chosen = _choose(arg, list(groups))
        if chosen is None:
            close = difflib.get_close_matches(arg, list(groups), n=3, cutoff=0.5)
            hint = f" (did you mean: {_line(', '.join(close))}?)" if close else ""
            self._say(f"no {noun} '{_line(arg)}'{hint}; :{noun}s lists them")
            return
        self._list(groups[chosen])

    def _width(self) -> int:
        # one column less than the screen: the pager needs it for its scroll bar
        return max(20, min(self.size()[0] - 1, 100)) if self.size else 80


def group_entries(
    entries: Iterable[Entry], keys: Callable[[Entry], Iterable[str]]
) -> dict[str, list[Entry]]:
    """Entries grouped by each of their keys (case-insensitively), in first-seen order."""
    spelling: dict[str, str] = {}
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        for key in keys(entry):
            name = spelling.setdefault(key.lower(), key)
            groups.setdefault(name, []).append(entry)
    return groups


def _choose(arg: str, names: list[str]) -> str | None:
    wanted = arg.lower()
    for name in names:
        if name.lower() == wanted:
            return name
    partial_matches = [name for name in names if wanted in name.lower()]
    return partial_matches[0] if len(partial_matches) == 1 else None


def why_lines(hit: Hit) -> list[str]:
    """A hit's explanation: confidence, exact signals, text match and its top words."""
    return [f"{_line(hit.entry.title)}  [{_line(hit.entry.id)}]",
            f"  score {hit.score:.2f}, confidence {hit.confidence:.2f}", *render_why(hit)]


# -- loops ---------------------------------------------------------------------------------


def prompt_loop(
    kb: KnowledgeBase,
    out: IO[str],
    *,
    history: History,
    rich: bool = False,
    term_in: Input | None = None,
    term_out: Output | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """The interactive shell on a terminal, until Ctrl-D or :quit (``clock``: for the paste
    guard, see ``paste_guard``)."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.auto_suggest import AutoSuggestFromHistory

    toolbar = f" {_line(kb.name) or 'kb'} · {len(kb)} entries · N: read · :help · Ctrl-D: quit"
    session: PromptSession[str] = PromptSession(
        history=history,
        key_bindings=paste_guard(clock),
        completer=_completer(kb),
        auto_suggest=AutoSuggestFromHistory(),
        bottom_toolbar=toolbar,
        reserve_space_for_menu=5,  # room for completions without crowding a 24-line window
        input=term_in,
        output=term_out,
    )

    def size() -> tuple[int, int]:
        rows_columns = session.output.get_size()
        return rows_columns.columns, rows_columns.rows

    pager = partial(page, term_in=session.input, term_out=session.output)
    shell = ShellSession(kb, out, rich=rich, size=size, pager=pager)
    shell.out.write(f"kb shell: {_line(kb.name)}, {len(kb)} entries. "
                    "Type a question or paste log lines; :help for commands.\n")
    while True:
        try:
            line = session.prompt(PROMPT)
        except KeyboardInterrupt:
            continue  # Ctrl-C drops the current input, not the shell
        except EOFError:
            return
        try:
            if not shell.handle(line):
                return
        except KeyboardInterrupt:
            shell.out.write("interrupted\n\n")


PASTE_GUARD = 0.1  # seconds after a paste in which Enter is more pasted text, not a submit


def paste_guard(clock: Callable[[], float] = time.monotonic) -> KeyBindings:
    """Key bindings that keep a paste from running anything (issue 18, F20).

    A pasted text that holds its own end-of-paste marker (``ESC [201~``) ends the terminal's
    bracketed paste early; what follows arrives as typed keys, so a ``\r:quit\r`` after it
    would submit the input and run a command. No one types Enter within PASTE_GUARD seconds
    of a paste ending: an Enter that comes so soon (or soon after such an Enter) becomes a
    new line of the input, which the user then reads and submits with a real Enter.
    """
    from prompt_toolkit.filters import Condition
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.keys import Keys

    bindings = KeyBindings()
    last = [-PASTE_GUARD]

    @bindings.add(Keys.BracketedPaste)
    def _paste(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text(event.data.replace("\r\n", "\n").replace("\r", "\n"))
        last[0] = clock()

    @bindings.add("enter", filter=Condition(lambda: clock() - last[0] < PASTE_GUARD))
    def _enter_in_a_paste(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")
        last[0] = clock()

    return bindings


def plain_loop(shell: ShellSession, lines: IO[str], *, prompt: str = "",
               raw: IO[bytes] | None = None) -> None:
    """One input per line from ``lines`` (or its bytes, ``raw``) until EOF or :quit;
    ``prompt`` only on a terminal. Lines are read bounded (frontends.streams.read_line)."""
    while True:
        if prompt:
            shell.out.write(prompt)
            shell.out.flush()
        try:
            line = read_line(lines, raw)
            if not line or not shell.handle(line):
                return
        except KeyboardInterrupt:
            if not prompt:
                raise  # Ctrl-C on a pipe stops the run, as in any filter
            shell.out.write("\n")


def run(kb: KnowledgeBase, env: Env, history_kept: str | None = None) -> None:
    """The shell over ``env``: prompt_toolkit on a capable terminal, else the plain loop.
    ``history_kept``: what the history file keeps (frontends.history; default KB_HISTORY)."""
    dumb = env.environ.get("TERM", "") == "dumb"
    if env.stdin_isatty and env.stdout_isatty and not dumb:
        from prompt_toolkit.input import create_input
        from prompt_toolkit.output import create_output

        mode = history_mode(history_kept or env.environ.get("KB_HISTORY"))
        history = open_history(data_dir(env.environ), mode)
        prompt_loop(kb, env.stdout, history=history, rich=env.color,
                    term_in=create_input(cast(TextIO, env.stdin)),
                    term_out=create_output(cast(TextIO, env.stdout)))
        return
    shell = ShellSession(kb, env.stdout, rich=env.color)
    plain_loop(shell, env.stdin, prompt=PROMPT if env.stdin_isatty else "",
               raw=binary(env.stdin, env.stdin_binary))
