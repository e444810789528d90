"""``kb serve``'s HTTP API and web page, as a Starlette application.

Every endpoint makes the same library call as the CLI command it mirrors and returns the
CLI's ``--json`` shape (``frontends.payloads``). Library calls run one at a time (a lock: the
KnowledgeBase promises no thread safety, and under the GIL a second thread would not make
searches faster anyway). Long ones (big excerpts, diagnose blocks) run on a worker thread, so
the event loop stays free to read requests and enforce time limits; short queries run on the
loop itself, which is faster than the round trip to a thread (``Api._run``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from importlib import resources
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from frontends.httpguard import ApiError, Guard, body_chunks, exception_handlers, read_body
from frontends.live import LiveKb
from frontends.logbody import BLOCK, LogDecoder
from frontends.payloads import (
    diagnosis_lines,
    entry_item,
    entry_payload,
    explain_payload,
    search_payload,
)
from frontends.render import dumps

T = TypeVar("T")
MAX_LIMIT = 100  # hits per request
INLINE_CHARS = 4096  # a query this short is answered on the event loop (see Api._run)
_SURROGATE = re.compile("[\ud800-\udfff]")
STATIC = {"app.js": "text/javascript", "style.css": "text/css", "favicon.svg": "image/svg+xml"}


@dataclass(frozen=True)
class ServeSettings:
    """What ``kb serve``'s options set (defaults are the documented ones)."""

    token: str = ""
    cors: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # empty: any Host header
    max_body: int = 1 << 20  # bytes of a search/explain request
    max_log: int = 1 << 30  # bytes of a diagnose body, before and after gunzip
    timeout: float = 30.0  # seconds: a whole request; for diagnose, between body chunks
    mcp: bool = False  # also serve MCP (streamable HTTP) at /mcp
    host: str = "127.0.0.1"


def json_response(data: Any, status: int = 200) -> Response:
    """ASCII-only JSON, byte for byte what the CLI's ``--json`` prints."""
    return Response(dumps(data), status_code=status, media_type="application/json")


def _timed(method: Callable[[Api, Request], Awaitable[Response]]
           ) -> Callable[[Api, Request], Awaitable[Response]]:
    """A whole request within ``--timeout`` seconds, else 408."""

    @wraps(method)
    async def timed(self: Api, request: Request) -> Response:
        try:
            with anyio.fail_after(self.settings.timeout):
                return await method(self, request)
        except TimeoutError:
            raise ApiError(408, f"the request took longer than {self.settings.timeout:g} s "
                                "(kb serve --timeout)") from None

    return timed


class Api:
    """The endpoints, over one LiveKb."""

    def __init__(self, live: LiveKb, settings: ServeSettings) -> None:
        self.live = live
        self.settings = settings
        self._limiter: anyio.CapacityLimiter | None = None
        self._lock = threading.Lock()  # an abandoned (timed-out) call may still be running
        self._files = {name: _web_file(name) for name in ("index.html", *STATIC)}

    async def _run(self, fn: Callable[..., T], *args: Any, small: bool = False) -> T:
        """``fn(*args)`` on the library's worker thread (abandoned, not waited for, when the
        request's time limit cancels it); ``small`` work (a short query: well under a
        millisecond) runs right here when the library is free, since the hop to a thread and
        back costs more than the search itself."""
        if small and self._lock.acquire(blocking=False):
            try:
                return fn(*args)
            finally:
                self._lock.release()
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(self._locked, fn, *args, limiter=self._limiter,
                                              abandon_on_cancel=True)

    def _locked(self, fn: Callable[..., T], *args: Any) -> T:
        with self._lock:
            return fn(*args)

    # -- the page --------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        return Response(self._files["index.html"], media_type="text/html; charset=utf-8")

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in STATIC:  # a fixed table: no path ever reaches the file system
            raise ApiError(404, "no such file")
        return Response(self._files[name], media_type=f"{STATIC[name]}; charset=utf-8")

    # -- meta ------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        from kb import __version__

        snap = self.live.snapshot
        return json_response({
            "status": "ok",
            "version": __version__,
            "entries": len(snap.kb),
            "generation": snap.generation,
            "loaded_at": datetime.fromtimestamp(snap.loaded_at, UTC).isoformat(),
            "warnings": self.live.warnings,
        })

    async def openapi(self, request: Request) -> Response:
        from frontends.openapi import document

        return json_response(document(mcp=self.settings.mcp))

    # -- search, explain, entries ----------------------------------------------------------

    @_timed
    async def search_get(self, request: Request) -> Response:
        text = _text(request.query_params.get("q"), "q")
        limit = _limit(request.query_params.get("limit"), 5)
        return json_response(await self._run(search_payload, self.live.kb, text, limit,
                                              small=len(text) <= INLINE_CHARS))

    @_timed
    async def search_post(self, request: Request) -> Response:
        text, limit = await self._query_body(request, default_limit=5)
        return json_response(await self._run(search_payload, self.live.kb, text, limit,
                                              small=len(text) <= INLINE_CHARS))

    @_timed
    async def explain(self, request: Request) -> Response:
        text, limit = await self._query_body(request, default_limit=3)
        return json_response(await self._run(explain_payload, self.live.kb, text, limit,
                                              small=len(text) <= INLINE_CHARS))

    @_timed
    async def entries(self, request: Request) -> Response:
        return json_response({"entries": [entry_item(e) for e in self.live.kb.entries()]})

    @_timed
    async def entry(self, request: Request) -> Response:
        entry = self.live.kb.get(request.path_params["id"])  # a dict look-up, never a path
        return json_response(await self._run(entry_payload, entry, small=True))

    async def _query_body(self, request: Request, default_limit: int) -> tuple[str, int]:
        """``{"q": TEXT, "limit": N}`` as JSON, or a text/plain body (``?limit=N``)."""
        body = await read_body(request, self.settings.max_body, self.settings.timeout)
        if request.headers.get("content-type", "").startswith("text/plain"):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(422, "the text/plain body is not valid UTF-8") from None
            return _text(text, "body"), _limit(request.query_params.get("limit"), default_limit)
        data = _json_object(body)
        unknown = sorted(set(data) - {"q", "limit"})
        if unknown:
            raise ApiError(422, f"unknown field(s) {', '.join(unknown)}: send q and limit")
        return _text(data.get("q"), "q"), _limit(data.get("limit"), default_limit)

    # -- diagnose --------------------------------------------------------------------------

    async def diagnose(self, request: Request) -> Response:
        """A log body (plain or gzip, any size up to --max-log) fed to a diagnoser block by
        block as it arrives; the report streams back as ``kb diagnose --json`` NDJSON."""
        diagnoser = self.live.kb.diagnoser(source="stdin")
        async for block in self._log_blocks(request):
            await self._run(diagnoser.feed_bytes, block)
        await self._run(diagnoser.flush)
        diagnosis = await self._run(diagnoser.result)
        return StreamingResponse(_iterate(diagnosis_lines(diagnosis)),
                                 media_type="application/x-ndjson")

    async def _log_blocks(self, request: Request) -> AsyncIterator[bytes]:
        """The body, gunzipped if it is gzip, in blocks of about BLOCK bytes."""
        gzip_declared = request.headers.get("content-encoding", "").lower() == "gzip"
        decoder = LogDecoder(self.settings.max_log, gzip=True if gzip_declared else None)
        pending = bytearray()
        chunks = body_chunks(request, self.settings.max_log, self.settings.timeout, "the log")
        async for chunk in chunks:
            for piece in decoder.push(chunk):
                pending += piece
                if len(pending) >= BLOCK:
                    yield bytes(pending)
                    pending.clear()
        for piece in decoder.end():
            pending += piece
        if pending:
            yield bytes(pending)

    # -- the application -------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        """Every route of the API and the page."""
        return [
            Route("/", self.page),
            Route("/static/{name}", self.static),
            Route("/healthz", self.healthz),
            Route("/openapi.json", self.openapi),
            Route("/v1/search", self.search_get, methods=["GET"]),
            Route("/v1/search", self.search_post, methods=["POST"]),
            Route("/v1/entries", self.entries),
            Route("/v1/entries/{id}", self.entry),
            Route("/v1/explain", self.explain, methods=["POST"]),
            Route("/v1/diagnose", self.diagnose, methods=["POST"]),
        ]


async def _iterate(lines: Iterator[str]) -> AsyncIterator[str]:
    for line in lines:
        yield line


def _web_file(name: str) -> bytes:
    return resources.files("frontends").joinpath("web", name).read_bytes()


def _text(value: object, name: str) -> str:
    if value is None:
        raise ApiError(422, f"missing {name}: give a log line, an excerpt or a question")
    if not isinstance(value, str):
        raise ApiError(422, f"{name} must be a string")
    if not value.strip():
        raise ApiError(422, f"empty {name}: give a log line, an excerpt or a question")
    return _SURROGATE.sub("\ufffd", value)  # lone surrogates from JSON: like invalid UTF-8


def _limit(value: object, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_LIMIT:
        raise ApiError(422, f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return value


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise ApiError(422, "the body is not valid UTF-8") from None
    except ValueError as exc:
        raise ApiError(422, f"the body is not JSON ({exc}); send {{\"q\": TEXT}}") from None
    if not isinstance(data, dict):
        raise ApiError(422, "the body must be a JSON object: {\"q\": TEXT, \"limit\": N}")
    return data


def create_app(live: LiveKb, settings: ServeSettings | None = None) -> Starlette:
    """The ASGI application of ``kb serve`` over ``live`` (its watcher runs while the app's
    lifespan does)."""
    settings = settings or ServeSettings()
    api = Api(live, settings)
    routes = api.routes()
    session: Callable[[], AbstractAsyncContextManager[None]] | None = None
    if settings.mcp:
        from frontends.mcp_server import http_routes

        mcp_routes, session = http_routes(live, settings.host)
        routes += mcp_routes
    middleware = [Middleware(Guard, token=settings.token, allowed_hosts=settings.allowed_hosts)]
    if settings.cors:
        middleware.insert(0, Middleware(
            CORSMiddleware, allow_origins=list(settings.cors), allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Content-Encoding"], max_age=600))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        live.start()
        try:
            if session is None:
                yield
            else:
                async with session():
                    yield
        finally:
            live.stop()

    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers=exception_handlers(), lifespan=lifespan)
