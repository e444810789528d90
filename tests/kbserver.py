"""Helpers for the server tests: ``kb serve`` as a real process on a free loopback port, and the
CLI run in-process (to compare the API's answers with the CLI's ``--json``)."""

from __future__ import annotations

import http.client
import io
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from frontends.cli import Env, main

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "serve"
LAB_EXCERPT = DATA / "lab-excerpt.log"


def run_cli(*argv: str, stdin: str = "") -> tuple[int, str, str]:
    """``kb ARGV`` in-process: exit code, stdout, stderr."""
    env = Env(stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=io.StringIO(),
              environ=dict(os.environ), stdout_isatty=False, stdin_isatty=False)
    code = main(list(argv), env)
    assert isinstance(env.stdout, io.StringIO) and isinstance(env.stderr, io.StringIO)
    return code, env.stdout.getvalue(), env.stderr.getvalue()


@dataclass
class Served:
    """A running ``kb serve``: its base URL (ending in /), the process, what it printed."""

    url: str
    process: subprocess.Popen[str]
    stderr: list[str] = field(default_factory=list)


@contextmanager
def kb_serve(*args: str, environ: dict[str, str] | None = None,
             start_timeout: float = 60.0) -> Iterator[Served]:
    """Start ``kb serve --port 0 ARGS`` on loopback, yield it once it has printed its URL, and
    always stop it (SIGTERM, then SIGKILL after 10 s)."""
    command = [sys.executable, "-m", "frontends.cli", "serve", "--port", "0", *args]
    env = dict(os.environ if environ is None else environ)
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str] = queue.Queue()
    served = Served("", process)

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            served.stderr.append(line)
            lines.put(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        served.url = _wait_for_url(lines, process, start_timeout)
        yield served
    finally:
        stop(process)
        reader.join(timeout=10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _wait_for_url(lines: queue.Queue[str], process: subprocess.Popen[str], timeout: float
                  ) -> str:
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"kb serve printed no URL in {timeout} s") from None
        if " at http://" in line:
            return line.split(" at ", 1)[1].split()[0]
        if process.poll() is not None:
            raise AssertionError(f"kb serve exited with {process.returncode}: {line}")


def stop(process: subprocess.Popen[str]) -> int:
    """Terminate a process this test started and wait for it; its exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return process.returncode


def http_request(url: str, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None, chunked: bool = False
                 ) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request with the standard library (no proxies, no retries)."""
    where = urlsplit(url)
    connection = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {},
                           encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, \
            response.read()
    finally:
        connection.close()


def raw_exchange(url: str, data: bytes, wait: float) -> bytes:
    """Send raw bytes, then read what comes back within ``wait`` seconds."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname or "", where.port or 0), timeout=wait) as s:
        s.sendall(data)
        received = b""
        try:
            while chunk := s.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received
