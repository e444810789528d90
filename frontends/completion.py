"""Completion for ``kb shell``: commands, section and tag names, entry titles, tags and
directive names (the history file is frontends.history)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from kb import Entry, KnowledgeBase

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent, Completer, Completion
    from prompt_toolkit.document import Document

# Directive names offered for completion: mod_ssl's own (SSLCertificateFile, ...) and the core
# directives that SSL answers keep naming.
DIRECTIVE = re.compile(
    r"\bSSL[A-Z][A-Za-z]+\b|\b(?:Listen|Mutex|LoadModule|VirtualHost|ServerName|Protocols)\b"
)


def directives(entries: Iterable[Entry]) -> set[str]:
    """Directive names (SSLCertificateFile, Listen, ...) named in the entries' answers."""
    return {name for entry in entries for name in DIRECTIVE.findall(entry.answer)}


def _completer(kb: KnowledgeBase) -> Completer:
    from prompt_toolkit.completion import Completer

    from frontends.shell import COMMANDS, _line, group_entries

    class ShellCompleter(Completer):
        """Commands after ':', names after :sections/:tags, else titles, tags and directives."""

        def __init__(self) -> None:
            entries = kb.entries()
            self.titles = sorted({_line(e.title) for e in entries})
            by_command = {":sections": lambda e: [e.section], ":tags": lambda e: e.tags}
            self.names = {cmd: [_line(n) for n in group_entries(entries, keys) if n]
                          for cmd, keys in by_command.items()}
            self.words = sorted(set(self.names[":tags"]) | directives(entries), key=str.lower)

        def get_completions(
            self, document: Document, complete_event: CompleteEvent
        ) -> Iterator[Completion]:
            text = document.text_before_cursor
            if text.startswith(":"):
                name, space, arg = text.partition(" ")
                if not space:
                    yield from _starting(name, COMMANDS, {k: v[1] for k, v in COMMANDS.items()})
                elif name in self.names:
                    yield from _starting(arg, self.names[name])
                return
            if len(text.strip()) >= 3:
                yield from _containing(text, self.titles)
            word = document.get_word_before_cursor(WORD=True)
            if word:
                yield from _starting(word, self.words)

    return ShellCompleter()


def _starting(
    prefix: str, choices: Iterable[str], meta: dict[str, str] | None = None
) -> Iterator[Completion]:
    from prompt_toolkit.completion import Completion

    for choice in choices:
        if choice.lower().startswith(prefix.lower()) and choice != prefix:
            yield Completion(choice, -len(prefix), display_meta=(meta or {}).get(choice, ""))


def _containing(text: str, titles: Iterable[str]) -> Iterator[Completion]:
    from prompt_toolkit.completion import Completion

    wanted = text.strip().lower()
    for title in titles:
        if wanted in title.lower():
            yield Completion(title, -len(text), display_meta="title")
