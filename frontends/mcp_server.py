"""``kb mcp``: the knowledge base as an MCP server (the official ``mcp`` SDK, ``kb[mcp]``).

Tools ``search``, ``show``, ``explain`` and ``diagnose`` return what ``kb search --json``,
``kb show --raw``, ``kb explain --json`` and ``kb diagnose --json`` print (the same payload
functions as ``kb serve``); every entry is also a resource, ``kb://entries/{id}``, in
Markdown. ``kb mcp`` speaks stdio; ``kb serve --mcp`` adds streamable HTTP at ``/mcp``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp_types import Resource, ToolAnnotations
from pydantic import Field

from frontends.live import LiveKb
from frontends.payloads import diagnosis_payload, explain_payload, search_payload
from frontends.render import entry_markdown

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

T = TypeVar("T")
MAX_LINES = 1_000_000  # lines one diagnose call takes
MAX_CHARS = 64 << 20  # characters one diagnose call takes
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True,
                            open_world_hint=False)
INSTRUCTIONS = (
    "kb answers 'this line is in my error log - what do I do?' from an FAQ knowledge base "
    "(shipped: the Apache httpd 2.4 / mod_ssl / OpenSSL 3 FAQ). Give search a raw log line, a "
    "pasted excerpt or a question; a hit with confidence >= 0.5 is a confident answer. Use "
    "show for an entry's full answer, explain to see why it ranks, diagnose for many log "
    "lines at once (one problem per entry and message template, worst first)."
)
Limit = Annotated[int, Field(ge=1, le=100, description="hits to return")]


class KbMcpServer(MCPServer):
    """An MCPServer whose resource list is the current content's entries."""

    def __init__(self, live: LiveKb, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.live = live

    async def list_resources(self) -> list[Resource]:
        """Every entry as ``kb://entries/{id}`` (after a reload, the new content's)."""
        return [Resource(uri=f"kb://entries/{e.id}", name=e.id, title=e.title,
                         description=e.summary(200), mime_type="text/markdown")
                for e in self.live.kb.entries()]


def create_server(live: LiveKb) -> KbMcpServer:
    """The MCP server over ``live`` (tools and the entry resources)."""
    from kb import __version__

    server = KbMcpServer(live, name="kb", version=__version__, instructions=INSTRUCTIONS,
                         log_level="WARNING")
    lock = threading.Lock()  # the SDK runs tools on worker threads; one library call at a time

    def call(fn: Callable[..., T], *args: Any) -> T:
        from kb import KbError

        with lock:
            try:
                return fn(*args)
            except KbError as exc:  # a refused query, an unknown id: the model reads why
                raise ToolError(str(exc).splitlines()[0]) from None

    @server.tool(annotations=READ_ONLY)
    def search(text: str, limit: Limit = 5) -> dict[str, Any]:
        """Rank FAQ entries for a log line, a pasted log excerpt or a question.

        Returns {query, hits: [{id, title, score, confidence, why, answer}]} as
        `kb search --json` does; confidence >= 0.5 is a confident answer.
        """
        return call(search_payload, live.kb, text, limit)

    @server.tool(annotations=READ_ONLY)
    def show(id: str) -> str:
        """One entry's full answer as Markdown (the id comes from search or diagnose)."""
        return call(lambda: entry_markdown(live.kb.get(id)))

    @server.tool(annotations=READ_ONLY)
    def explain(text: str, limit: Limit = 3) -> dict[str, Any]:
        """How a line is parsed (log prefix fields, codes, template), the query built and each
        hit's score contributions, as `kb explain --json` does."""
        return call(explain_payload, live.kb, text, limit)

    @server.tool(annotations=READ_ONLY)
    def diagnose(lines: list[str]) -> dict[str, Any]:
        """Diagnose log lines: {problems: [...], summary} as `kb diagnose --json` reports them,
        one problem per entry and message template, worst first, with counts and a sample."""
        _check_size(lines)
        return call(_diagnose, live, lines)

    @server.resource("kb://entries/{id}", name="entry", mime_type="text/markdown",
                     description="One FAQ entry as Markdown (the page of kb show --raw)")
    def entry(id: str) -> str:
        from kb import UnknownEntryError

        with lock:
            try:
                return entry_markdown(live.kb.get(id))
            except UnknownEntryError as exc:
                raise ResourceNotFoundError(str(exc)) from None

    return server


def _check_size(lines: Sequence[str]) -> None:
    if len(lines) > MAX_LINES:
        raise ToolError(f"{len(lines)} lines is over the limit of {MAX_LINES} per call")
    if sum(len(line) for line in lines) > MAX_CHARS:
        raise ToolError(f"the lines are over the limit of {MAX_CHARS} characters per call")


def _diagnose(live: LiveKb, lines: Sequence[str]) -> dict[str, Any]:
    diagnoser = live.kb.diagnoser(source="stdin")
    diagnoser.feed(lines)
    diagnoser.flush()
    return diagnosis_payload(diagnoser.result())


def http_routes(live: LiveKb, host: str
                ) -> tuple[list[BaseRoute], Callable[[], AbstractAsyncContextManager[None]]]:
    """Routes serving MCP over streamable HTTP at ``/mcp`` (stateless, JSON answers) and the
    session manager to run in the application's lifespan."""
    server = create_server(live)
    app = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=True,
                                     json_response=True, host=host)
    return list(app.routes), server.session_manager.run
