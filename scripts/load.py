#!/usr/bin/env python3
"""A bounded load test of ``kb serve`` on loopback: throughput, latency, errors and memory.

    python scripts/load.py [--clients 50] [--seconds 20] [--log-mb 100] [--quick]

Starts ``kb serve`` (with a token, on a free 127.0.0.1 port), then:

1. search: CLIENTS keep-alive connections send ``GET /v1/search`` for SECONDS, round robin
   over real queries (the lines of examples/error.log and every entry's title); requests/s,
   latency percentiles, errors (anything but 200), the server's RSS before and after;
2. diagnose: a generated Apache error log of LOG_MB megabytes (scripts/make_log.py) streamed
   to ``POST /v1/diagnose`` in 1 MiB chunks, plain and gzip, while the server's RSS is
   sampled every 20 ms: peak RSS, time, MB/s, and the report checked against
   ``kb diagnose --json`` of the same file;
3. hostile: a burst of oversized, stalled, malformed, unauthorised and traversal requests,
   each status counted, then /healthz and a search must still answer.

Every loop is bounded in count and time, every request goes to 127.0.0.1, and the server is
stopped at the end. Exit status 0 when no request failed and memory stayed bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "error.log"
TOKEN = "load-test-token"
CHUNK = 1 << 20
MAX_REQUESTS = 5_000_000  # a bound on the search phase besides its duration


@dataclass
class Server:
    """A ``kb serve`` process this script started."""

    process: subprocess.Popen[str]
    host: str
    port: int

    def rss(self) -> tuple[int, int]:
        """(current, peak) resident memory of the server in KiB, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            fields[name] = value.strip()
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

    def cpu(self) -> float:
        """CPU seconds the server has used (user + system)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def request(self, method: str, path: str, body: object = None,
                headers: dict[str, str] | None = None, chunked: bool = False,
                timeout: float = 600) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body,  # type: ignore[arg-type]
                               headers={"Authorization": f"Bearer {TOKEN}", **(headers or {})},
                               encode_chunked=chunked)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


def start_server(cache: Path) -> Server:
    env = {**os.environ, "KB_TOKEN": TOKEN, "KB_CACHE_DIR": str(cache)}
    process = subprocess.Popen(
        [sys.executable, "-m", "frontends.cli", "serve", "--port", "0",
         "--reload-interval", "0", "--timeout", "2"],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    if " at http://" not in line:
        process.kill()
        raise SystemExit(f"kb serve did not start: {line}")
    threading.Thread(target=lambda: [None for _ in process.stderr or ()], daemon=True).start()
    where = urlsplit(line.split(" at ", 1)[1].split()[0])
    return Server(process, where.hostname or "127.0.0.1", where.port or 0)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=15)


# -- 1. search -----------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: int = 0  # connection errors, malformed answers


def search_paths(server: Server) -> list[str]:
    lines = [line for line in SAMPLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    status, body = server.request("GET", "/v1/entries")
    titles = [e["title"] for e in json.loads(body)["entries"]] if status == 200 else []
    return [f"/v1/search?limit=5&q={quote(text)}" for text in lines + titles]


async def _response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status


async def _client(server: Server, paths: Sequence[str], start: int, deadline: float,
                  stats: Stats) -> None:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    index = start
    try:
        while time.monotonic() < deadline and len(stats.latencies) < MAX_REQUESTS:
            path = paths[index % len(paths)]
            index += 1
            began = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                         f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
            try:
                status = await _response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                stats.failures += 1
                writer.close()
                reader, writer = await asyncio.open_connection(server.host, server.port)
                continue
            stats.latencies.append(time.perf_counter() - began)
            stats.statuses[status] += 1
    finally:
        writer.close()


async def _search_load(server: Server, paths: Sequence[str], clients: int, seconds: float
                       ) -> Stats:
    stats = Stats()
    deadline = time.monotonic() + seconds
    await asyncio.gather(*(_client(server, paths, i * 7, deadline, stats)
                           for i in range(clients)))
    return stats


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def bench_search(server: Server, clients: int, seconds: float) -> tuple[list[str], bool]:
    paths = search_paths(server)
    # Warm the posting-list cache a little, as a running server is, and with the semantic
    # extra load its model and entry vectors (titles are questions: a one-time ~0.4 GB that
    # the flat-memory check below is not about).
    for path in paths[:20] + paths[-20:]:
        server.request("GET", path)
    before, cpu = server.rss()[0], server.cpu()
    began = time.monotonic()
    stats = asyncio.run(_search_load(server, paths, clients, seconds))
    took = time.monotonic() - began
    after, cpu = server.rss()[0], server.cpu() - cpu
    errors = stats.failures + sum(n for s, n in stats.statuses.items() if s != 200)
    total = len(stats.latencies)
    ms = [x * 1000 for x in stats.latencies]
    report = [
        f"search: {clients} clients x {seconds:g} s, {len(paths)} distinct queries "
        "(examples/error.log lines and entry titles)",
        f"  requests {total}, {total / took:.0f} requests/s, errors {errors} "
        f"(statuses {dict(stats.statuses)}, connection failures {stats.failures})",
        f"  latency ms: p50 {percentile(ms, 0.5):.1f}, p90 {percentile(ms, 0.9):.1f}, "
        f"p99 {percentile(ms, 0.99):.1f}, max {max(ms, default=0):.1f}",
        f"  server CPU: {cpu:.1f} s in {took:.1f} s ({cpu / max(total, 1) * 1000:.2f} ms per "
        "request; the clients run on the same 2 cores)",
        f"  server RSS: before {before / 1024:.1f} MiB, after {after / 1024:.1f} MiB "
        f"({(after - before) / 1024:+.1f} MiB)",
    ]
    flat = after - before < 64 * 1024
    return report, errors == 0 and total > 0 and flat


# -- 2. diagnose ---------------------------------------------------------------------------


def make_big_log(path: Path, megabytes: float) -> int:
    """A generated Apache error log of about ``megabytes`` MB; its line count."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_log  # type: ignore[import-not-found]

    sample = "".join(line + "\n" for line in make_log.generate(2000, seed=11))
    per_line = len(sample.encode()) / 2000
    lines = int(megabytes * 1_000_000 / per_line)
    make_log.main([str(path), "--lines", str(lines), "--seed", "11"])
    return lines


def _chunks(path: Path, compress: bool) -> Iterator[bytes]:
    with path.open("rb") as handle:
        if not compress:
            while block := handle.read(CHUNK):
                yield block
            return
        deflate = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        while block := handle.read(CHUNK):
            out = deflate.compress(block)
            if out:
                yield out
        yield deflate.flush()


class Sampler:
    """Samples the server's RSS every 20 ms in a thread."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.server.rss()[0])


def bench_diagnose(server: Server, megabytes: float, work: Path) -> tuple[list[str], bool]:
    log = work / "big-error.log"
    lines = make_big_log(log, megabytes)
    size = log.stat().st_size
    with log.open("rb") as stdin:  # the body is stdin to kb diagnose (source "stdin")
        cli = subprocess.run([sys.executable, "-m", "frontends.cli", "diagnose", "--json"],
                             cwd=ROOT, capture_output=True, text=True, check=False, stdin=stdin,
                             env={**os.environ, "KB_CACHE_DIR": str(work / "cache")})
    report = [f"diagnose: a generated log of {size / 1e6:.1f} MB, {lines} lines, streamed in "
              f"{CHUNK >> 20} MiB chunks"]
    ok = True
    for compress in (False, True):
        idle = server.rss()[0]
        began = time.monotonic()
        with Sampler(server) as sampler:
            status, body = server.request("POST", "/v1/diagnose", _chunks(log, compress),
                                          chunked=True)
        took = time.monotonic() - began
        same = status == 200 and body.decode() == cli.stdout
        summary = json.loads(body.splitlines()[-1]) if status == 200 else {}
        grew = sampler.peak - idle
        report.append(
            f"  {'gzip ' if compress else 'plain'}: status {status}, {took:.1f} s, "
            f"{size / 1e6 / took:.0f} MB/s of log, {summary.get('problems')} problems, "
            f"same as kb diagnose --json: {same}; server RSS idle {idle / 1024:.1f} MiB, "
            f"peak {sampler.peak / 1024:.1f} MiB ({grew / 1024:+.1f} MiB)")
        ok = ok and same and grew < 128 * 1024
    log.unlink()
    return report, ok


# -- 3. hostile ----------------------------------------------------------------------------


def hostile(server: Server, rounds: int) -> tuple[list[str], bool]:
    """Requests that must be refused cleanly; the server must go on answering."""
    before = server.rss()[0]
    cases: list[tuple[str, int, str, str, object, dict[str, str]]] = [
        ("body over --max-body", 413, "POST", "/v1/search", b'{"q": "' + b"x" * 2_000_000 +
         b'"}', {"Content-Type": "application/json"}),
        ("invalid UTF-8 body", 422, "POST", "/v1/search", b'{"q": "\xff\xfe"}',
         {"Content-Type": "application/json"}),
        ("NUL bytes in the JSON", 422, "POST", "/v1/search", b'{"q": "a\x00b"}', {}),
        ("ANSI escapes in q", 200, "GET", "/v1/search?q=" + quote("\x1b[31mAH02565\x1b]8;;x\x07"),
         None, {}),
        ("path traversal", 404, "GET", "/v1/entries/..%2F..%2Fetc%2Fpasswd", None, {}),
        ("wrong token", 401, "GET", "/healthz", None, {"Authorization": "Bearer nope"}),
        ("damaged gzip", 422, "POST", "/v1/diagnose", b"\x1f\x8b\x08\x00garbage" * 100, {}),
        ("not JSON", 422, "POST", "/v1/explain", b"{{{", {}),
    ]
    seen: Counter[tuple[str, str]] = Counter()
    wrong: list[str] = []
    for _ in range(rounds):
        for name, expected, method, path, body, headers in cases:
            status, _ = server.request(method, path, body, headers)
            seen[(name, str(status))] += 1
            if status != expected:
                wrong.append(f"{name}: {status} (expected {expected})")
    for _ in range(max(1, rounds // 10)):
        for name, expected_statuses, raw in _raw_cases(server):
            answer = _exchange(server, raw)
            code = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else \
                "closed"
            seen[(name, code)] += 1
            if code not in expected_statuses:
                wrong.append(f"{name}: {answer[:40]!r}")
    health, _ = server.request("GET", "/healthz")
    search, _ = server.request("GET", "/v1/search?q=AH02565")
    after = server.rss()[0]
    report = [f"hostile: {rounds} rounds of {len(cases)} kinds of bad request"]
    report += [f"  {name}: {count}x {status}" for (name, status), count in seen.items()]
    report.append(f"  afterwards /healthz {health}, search {search}; server RSS "
                  f"{before / 1024:.1f} -> {after / 1024:.1f} MiB")
    report += [f"  WRONG {line}" for line in wrong]
    return report, not wrong and health == search == 200 and after - before < 64 * 1024


def _raw_cases(server: Server) -> list[tuple[str, tuple[str, ...], Iterator[bytes]]]:
    auth = f"Authorization: Bearer {TOKEN}\r\n".encode()
    head = b"POST /v1/diagnose HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth

    def stalled() -> Iterator[bytes]:
        yield head + b"Content-Length: 100000\r\n\r\n[error] x\n"  # then nothing: --timeout

    def huge_header() -> Iterator[bytes]:
        yield b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + b"X-Big: "
        for _ in range(64):
            yield b"b" * CHUNK  # 64 MiB of one header line: refused long before the end

    def foreign_host() -> Iterator[bytes]:
        yield b"GET /healthz HTTP/1.1\r\nHost: evil.example\r\n" + auth + b"\r\n"

    return [("stalled body (--timeout 2)", ("408",), stalled()),
            ("64 MiB header line", ("closed", "400", "431"), huge_header()),
            ("foreign Host header", ("421",), foreign_host())]


def _exchange(server: Server, parts: Iterator[bytes]) -> bytes:
    """Send raw request bytes; the first bytes of the answer (b"" if the server closed)."""
    import socket

    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        try:
            for part in parts:
                sock.sendall(part)
            return sock.recv(200)
        except OSError:  # reset: the server refused to read on
            return b""


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--log-mb", type=float, default=100.0)
    p.add_argument("--hostile-rounds", type=int, default=20)
    p.add_argument("--quick", action="store_true", help="4 clients, 2 s, a 2 MB log")
    args = p.parse_args(argv)
    if args.quick:
        args.clients, args.seconds, args.log_mb, args.hostile_rounds = 4, 2.0, 2.0, 2
    with tempfile.TemporaryDirectory(prefix="kb-load-") as tmp:
        work = Path(tmp)
        server = start_server(work / "cache")
        try:
            results = [bench_search(server, args.clients, args.seconds),
                       bench_diagnose(server, args.log_mb, work),
                       hostile(server, args.hostile_rounds)]
        finally:
            stop_server(server)
    for lines, _ in results:
        print("\n".join(lines))
    ok = all(passed for _, passed in results)
    print("load: ok" if ok else "load: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
