"""What stands between the network and the API: the one error funnel, bearer tokens, Host
checks, security headers, and request bodies read under size and time limits.

Every error a client sees is ``{"error": MESSAGE, "status": CODE}``: KbErrors become 4xx with
their message, limits 408/413/422, and anything else a plain 500 whose details stay in the
server's log.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontends.render import clean, dumps

# The page may load only its own files and talk only to its own origin; the one HTML sink
# (entry answers rendered by the server) goes through the Trusted Types policy 'kb-html'.
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
            "require-trusted-types-for 'script'; trusted-types kb-html")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


class ApiError(Exception):
    """A request refused on purpose, with the status and message the client gets."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """The one shape of every error: ``{"error": ..., "status": ...}``, control characters
    escaped like on a terminal."""
    body = {"error": clean(message, keep_newlines=False), "status": status}
    return Response(dumps(body), status_code=status, headers=headers,
                    media_type="application/json")


def kb_status(exc: Exception) -> int:
    """The HTTP status of a KbError: unknown id 404, a refused query 422, other 400."""
    from kb import QueryError, UnknownEntryError

    if isinstance(exc, UnknownEntryError):
        return 404
    if isinstance(exc, QueryError):
        return 422
    return 400


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(exc.status_code, str(exc.detail), dict(exc.headers or {}))


async def _kb_error(request: Request, exc: Exception) -> Response:
    return error_response(kb_status(exc), str(exc).splitlines()[0] if str(exc) else "error")


async def _disconnected(request: Request, exc: Exception) -> Response:
    return error_response(400, "the client went away before the request body ended")


async def _crash(request: Request, exc: Exception) -> Response:
    # Starlette re-raises after this answer, so the server (uvicorn) logs the traceback.
    return error_response(500, "internal error")


def exception_handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
    """The error funnel, for ``Starlette(exception_handlers=...)``."""
    from kb import KbError

    return {ApiError: _api_error, HTTPException: _http_error, KbError: _kb_error,
            ClientDisconnect: _disconnected, Exception: _crash}


# -- the guard middleware --------------------------------------------------------------------


class Guard:
    """ASGI middleware: Host check on loopback, bearer token, security headers.

    ``allowed_hosts`` empty means any Host header (a server bound beyond loopback on
    purpose); on loopback only loopback names pass, which stops DNS-rebinding pages from
    reading the API through a browser.
    """

    def __init__(self, app: ASGIApp, *, token: str = "", allowed_hosts: Sequence[str] = ()) -> None:
        self.app = app
        self._token = token.encode()
        self._hosts = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            await refusal(scope, receive, _with_headers(send, scope["path"]))
            return
        await self.app(scope, receive, _with_headers(send, scope["path"]))

    def _refusal(self, scope: Scope) -> Response | None:
        headers = dict(scope["headers"])
        if self._hosts and _host_name(headers.get(b"host", b"")) not in self._hosts:
            return error_response(421, "this server answers only to its loopback names")
        if not self._token or _public(scope["path"]) or scope["method"] == "OPTIONS":
            return None
        given = headers.get(b"authorization", b"")
        scheme, _, value = given.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(value.strip(), self._token):
            reason = "missing" if not given else "wrong"
            return error_response(401, f"{reason} token: send 'Authorization: Bearer TOKEN'",
                                  {"WWW-Authenticate": 'Bearer realm="kb"'})
        return None


def _public(path: str) -> bool:
    # the page's own files: no secrets in them, and the page must load to ask for a token
    return path == "/" or path.startswith("/static/")


def _host_name(raw: bytes) -> str:
    host = raw.decode("latin-1").strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _with_headers(send: Send, path: str) -> Send:
    page = _public(path)

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            extra = [
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"no-referrer"),
                (b"x-frame-options", b"DENY"),
                (b"cross-origin-resource-policy", b"same-origin"),
                (b"content-security-policy", (PAGE_CSP if page else API_CSP).encode()),
            ]
            if not page:
                extra.append((b"cache-control", b"no-store"))  # answers may hold log text
            message["headers"] = list(message.get("headers", [])) + extra
        await send(message)

    return sending


# -- request bodies under limits -------------------------------------------------------------


def declared_length(request: Request, limit: int, what: str) -> None:
    """413 at once when Content-Length already says the body is over ``limit``."""
    raw = request.headers.get("content-length")
    if raw is None:
        return
    if not raw.isdigit():
        raise ApiError(400, "Content-Length is not a number")
    if int(raw) > limit:
        raise ApiError(413, f"{what} is {int(raw)} bytes; the limit is {limit} "
                            f"(kb serve --max-body/--max-log)")


async def body_chunks(request: Request, limit: int, idle: float, what: str
                      ) -> AsyncIterator[bytes]:
    """The request body as it arrives: 413 past ``limit`` bytes, 408 when no data comes for
    ``idle`` seconds. Never holds more than one chunk."""
    declared_length(request, limit, what)
    total = 0
    stream = request.stream().__aiter__()
    while True:
        try:
            with anyio.fail_after(idle):
                chunk = await stream.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(408, f"no request data for {idle:g} s (kb serve --timeout)") from None
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"{what} is over the limit of {limit} bytes "
                                "(kb serve --max-body/--max-log)")
        if chunk:
            yield chunk


async def read_body(request: Request, limit: int, idle: float) -> bytes:
    """The whole (small) body, under the same limits."""
    parts = [chunk async for chunk in body_chunks(request, limit, idle, "the request body")]
    return b"".join(parts)


def loopback(host: str) -> bool:
    """True for an address or name that only this machine can reach."""
    import ipaddress

    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
