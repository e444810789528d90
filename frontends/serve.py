"""The ``kb serve`` and ``kb mcp`` commands: options, content loading as the CLI does it, and
starting the server. Nothing here imports Starlette, uvicorn or the MCP SDK until one of these
commands runs, so the other commands never pay for them (or need them installed).
"""

from __future__ import annotations

import argparse

from frontends.cli import Env, ExitCode, UsageError, content_paths, load

TYPE_CHECKING = False  # (not typing's: see frontends.cli)
if TYPE_CHECKING:
    import socket

    import uvicorn

DEFAULT_PORT = 8765
SERVE_EXIT = ("Exit codes: 0 stopped by SIGTERM, 2 usage, 3 content error, 5 other error "
              "(e.g. the port is in use, or the extra is not installed), 130 stopped by Ctrl-C.")


def _size(text: str) -> int:
    """A byte count with an optional K/M/G suffix (powers of 1024)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    raw = text.strip().lower().removesuffix("b").removesuffix("i")
    scale = units.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in units else raw
    if not number.isdigit() or int(number) * scale < 1:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1048576, 512K, 1M, 1G)")
    return int(number) * scale


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < 86400:
        raise argparse.ArgumentTypeError(f"out of range: {text!r}")
    return value


def _reload_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reload-interval", type=_seconds, default=2.0, metavar="SECONDS",
                   help="how often to look for changed content files (default 2; 0: never). "
                        "A change is loaded beside the old content and swapped in when ready; "
                        "a broken edit keeps the old content")


def _serve_args(p: argparse.ArgumentParser) -> None:
    """Arguments of ``kb serve``."""
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--token", default=None,
                   help="require 'Authorization: Bearer TOKEN' on the API (also KB_TOKEN, "
                        "which keeps it out of the process list)")
    p.add_argument("--cors", action="append", default=[], metavar="ORIGIN",
                   help="allow browser pages from ORIGIN (e.g. https://tools.example) to call "
                        "the API (repeatable; default: no CORS)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="another Host name to answer to when bound to loopback (repeatable; "
                        "127.0.0.1, localhost and [::1] always pass)")
    p.add_argument("--max-body", type=_size, default="1M", metavar="BYTES",
                   help="largest search/explain request body (default 1M)")
    p.add_argument("--max-log", type=_size, default="1G", metavar="BYTES",
                   help="largest diagnose log, also once gunzipped (default 1G)")
    p.add_argument("--timeout", type=_seconds, default=30.0, metavar="SECONDS",
                   help="time limit of a request; for diagnose, of the pause between two "
                        "pieces of the body (default 30)")
    _reload_arg(p)
    p.add_argument("--mcp", action="store_true",
                   help="also serve MCP over streamable HTTP at /mcp (needs kb[mcp])")
    p.add_argument("--access-log", action="store_true", help="log each request on stderr")


def serve(args: argparse.Namespace, env: Env) -> int:
    """kb serve: the HTTP API and the web page."""
    if not _have("starlette", "uvicorn") or (args.mcp and not _have("mcp")):
        extra = "mcp" if args.mcp and _have("starlette", "uvicorn") else "serve"
        env.stderr.write(f"kb: error: kb serve{' --mcp' if args.mcp else ''} needs the "
                         f"'{extra}' extra: pip install 'kb[{extra}]'\n")
        return ExitCode.ERROR
    import uvicorn

    from frontends.api import ServeSettings, create_app
    from frontends.httpguard import LOOPBACK_NAMES, loopback
    from frontends.live import LiveKb

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port}: not a port number")
    if args.timeout <= 0:
        raise UsageError("--timeout must be more than 0 seconds")
    token = args.token if args.token is not None else env.environ.get("KB_TOKEN", "")
    local = loopback(args.host)
    settings = ServeSettings(
        token=token, cors=tuple(args.cors), host=args.host, mcp=args.mcp,
        allowed_hosts=(*LOOPBACK_NAMES, *args.allow_host) if local else (),
        max_body=args.max_body, max_log=args.max_log, timeout=args.timeout)
    live = LiveKb(load(args, env), content_paths(args, env), args.reload_interval)
    sock = _bind(args.host, args.port)
    where = _url(sock)
    env.stderr.write(f"kb: serving {len(live.kb)} entries at {where} (Ctrl-C stops)\n")
    if not local and not token:
        env.stderr.write("kb: warning: bound beyond loopback without --token: anyone who can "
                         "reach this address can use the API\n")
    # h11, not httptools: h11 refuses a request head over 16 KiB, while httptools buffers a
    # header of any size (a 200 MB header line took 460 MB here).
    config = uvicorn.Config(create_app(live, settings), http="h11", log_level="warning",
                            access_log=args.access_log, server_header=False,
                            proxy_headers=False, timeout_keep_alive=5,
                            timeout_graceful_shutdown=5, limit_concurrency=1000)
    _run_until_stopped(uvicorn.Server(config), sock)
    return ExitCode.OK


class _Stopped(Exception):
    """SIGTERM arrived: the server has shut down gracefully."""


def _run_until_stopped(server: uvicorn.Server, sock: socket.socket) -> None:
    """Run uvicorn until SIGINT or SIGTERM. uvicorn shuts down gracefully, then raises the
    signal again: SIGINT becomes KeyboardInterrupt (exit 130, as for every command), SIGTERM
    a clean stop (exit 0) rather than death by signal."""
    import signal

    def stopped(signum: int, frame: object) -> None:
        raise _Stopped

    previous = signal.signal(signal.SIGTERM, stopped)
    try:
        server.run(sockets=[sock])
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def _have(*modules: str) -> bool:
    from importlib.util import find_spec

    return all(find_spec(name) is not None for name in modules)


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket (so that --port 0 can tell which port it got)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP, and
    # without it Nagle's algorithm and delayed ACKs hold every small response 40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


# -- kb mcp ------------------------------------------------------------------------------


def _mcp_args(p: argparse.ArgumentParser) -> None:
    """Arguments of ``kb mcp``."""
    _reload_arg(p)


def mcp(args: argparse.Namespace, env: Env) -> int:
    """kb mcp: an MCP server on stdin/stdout."""
    if not _have("mcp"):
        env.stderr.write("kb: error: kb mcp needs the 'mcp' extra: pip install 'kb[mcp]'\n")
        return ExitCode.ERROR
    from frontends.live import LiveKb
    from frontends.mcp_server import create_server

    live = LiveKb(load(args, env), content_paths(args, env), args.reload_interval)
    live.start()
    try:
        create_server(live).run("stdio")
    finally:
        live.stop()
    return ExitCode.OK
