"""A full-screen, scrollable view for long answers in ``kb shell`` (no external pager)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prompt_toolkit.document import Document
    from prompt_toolkit.formatted_text import StyleAndTextTuples
    from prompt_toolkit.input import Input
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
    from prompt_toolkit.output import Output

# prompt_toolkit's ANSI parser understands colours (SGR) only; rich also writes OSC 8
# hyperlinks (ESC ] 8 ;; url ESC \), which would otherwise show up as text.
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")


def page(text: str, *, term_in: Input | None = None, term_out: Output | None = None) -> None:
    """Show ``text`` (ANSI colours allowed) full screen, scrollable; q, Escape or Ctrl-C return."""
    from prompt_toolkit.application import Application
    from prompt_toolkit.formatted_text import fragment_list_to_text
    from prompt_toolkit.layout import FormattedTextControl, HSplit, Layout, Window
    from prompt_toolkit.lexers import Lexer
    from prompt_toolkit.widgets import TextArea

    lines = styled_lines(text)

    class Styled(Lexer):
        def lex_document(self, document: Document) -> Callable[[int], StyleAndTextTuples]:
            return lambda number: lines[number] if number < len(lines) else []

    plain = "\n".join(fragment_list_to_text(line) for line in lines)
    area = TextArea(plain, read_only=True, scrollbar=True, lexer=Styled())
    status = FormattedTextControl(" q: back   up/down, PgUp/PgDn, space: scroll")
    layout = Layout(HSplit([area, Window(status, height=1, style="reverse")]), area)
    app: Application[None] = Application(
        layout=layout, key_bindings=_pager_keys(), full_screen=True, input=term_in, output=term_out
    )
    app.run()


def styled_lines(text: str) -> list[StyleAndTextTuples]:
    """Each line of ANSI-coloured ``text`` as prompt_toolkit fragments (OSC sequences dropped)."""
    from prompt_toolkit.formatted_text import ANSI, to_formatted_text

    return [to_formatted_text(ANSI(line)) for line in _OSC.sub("", text).rstrip("\n").split("\n")]


def _pager_keys() -> KeyBindings:
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.key_binding.bindings.scroll import scroll_page_down, scroll_page_up

    keys = KeyBindings()

    def leave(event: KeyPressEvent) -> None:
        event.app.exit()

    for key in ("q", "Q", "c-c", "c-d"):
        keys.add(key)(leave)
    keys.add("escape", eager=True)(leave)
    keys.add(" ")(scroll_page_down)
    keys.add("b")(scroll_page_up)

    @keys.add("g")
    def _top(event: KeyPressEvent) -> None:
        event.current_buffer.cursor_position = 0

    @keys.add("G")
    def _bottom(event: KeyPressEvent) -> None:
        event.current_buffer.cursor_position = len(event.current_buffer.text)

    return keys
