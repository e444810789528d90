"""``kb diagnose``: read logs (files, gzip, stdin, follow mode) and report problems.

All the work is in kb.diagnose; this module opens inputs, follows files like ``tail -F``
and renders. Live mode (``--follow``, or stdin that is a pipe) prints each problem when it is
first seen and a summary at the end or on Ctrl-C; batch mode prints one report at the end.
"""

from __future__ import annotations

import argparse
import gzip
import os
import stat
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from frontends.cli import Env, ExitCode, UsageError, isatty, load
from frontends.render import clean, dumps, write_markdown

if TYPE_CHECKING:
    from kb import Diagnoser, Diagnosis, Problem

BLOCK = 1 << 20
POLL = 0.25  # seconds between looks at a followed file
UPDATE_EVERY = 2.0  # seconds between count updates in live NDJSON


def run(args: argparse.Namespace, env: Env) -> int:
    """kb diagnose."""
    files = [f for f in args.files if f != "-"]
    use_stdin = not args.files or "-" in args.files
    if args.follow and (use_stdin or len(files) != 1):
        raise UsageError("--follow takes exactly one FILE")
    kb = load(args, env)
    diagnoser = kb.diagnoser(collect_unmatched=args.unmatched is not None)
    live = args.follow or (use_stdin and not _regular(env))
    out = _Output(env, args, live)
    damaged = ""
    try:
        if use_stdin:
            out.feed(diagnoser, _stdin_blocks(env))
        for name in files:
            out.feed(diagnoser, _file_blocks(Path(name), args.follow, env))
    except KeyboardInterrupt:
        out.interrupted = True
    except DamagedInput as exc:
        damaged = str(exc)
    diagnoser.flush()
    diagnosis = diagnoser.result()
    out.finish(diagnosis)
    if args.unmatched is not None:
        args.unmatched.write_text(unmatched_markdown(diagnosis), encoding="utf-8")
    if out.interrupted:
        return ExitCode.INTERRUPTED
    if damaged:
        env.stderr.write(f"kb: error: {clean(damaged, keep_newlines=False)}\n")
        return ExitCode.ERROR
    return ExitCode.FOUND if diagnosis.problems else ExitCode.OK


def _regular(env: Env) -> bool:
    try:
        return stat.S_ISREG(os.fstat(env.stdin.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return True  # an in-memory stream (tests): behave like a file


def _stdin_blocks(env: Env) -> Iterator[bytes]:
    stream: IO[bytes] | None = env.stdin_binary or getattr(env.stdin, "buffer", None)
    if stream is None:  # a text stream (tests)
        while text := env.stdin.read(BLOCK):
            yield text.encode("utf-8", "surrogateescape")
        return
    read = getattr(stream, "read1", stream.read)
    while chunk := read(BLOCK):
        yield chunk


def _open(path: Path) -> IO[bytes]:
    handle = path.open("rb")
    if handle.read(2) == b"\x1f\x8b":
        handle.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


class DamagedInput(Exception):
    """A log file could not be read to its end (damaged compression); what came before it
    has been diagnosed."""


def _file_blocks(path: Path, follow: bool, env: Env) -> Iterator[bytes]:
    handle = _open(path)
    progress = _Progress(env, path)
    try:
        while chunk := _read(handle, path):
            progress.show(handle)
            yield chunk
        progress.done()
        if follow:
            yield from _follow(path, handle)
    finally:
        handle.close()


def _read(handle: IO[bytes], path: Path) -> bytes:
    try:
        # read1 on gzip hands over what is decompressed so far, so a damaged tail loses
        # only itself; plain files read whole blocks.
        if isinstance(handle, gzip.GzipFile):
            return handle.read1(BLOCK)
        return handle.read(BLOCK)
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DamagedInput(f"{path}: damaged gzip data ({exc}); lines before the damage "
                           "were diagnosed") from None


def _follow(path: Path, handle: IO[bytes]) -> Iterator[bytes]:
    """Like tail -F: wait for more data; reopen on rotation, rewind on truncation."""
    inode = os.fstat(handle.fileno()).st_ino
    while True:
        chunk = handle.read(BLOCK)
        if chunk:
            yield chunk
            continue
        time.sleep(POLL)
        yield b""  # a heartbeat: pending count updates go out while the file is quiet
        try:
            info = path.stat()
        except FileNotFoundError:
            continue  # rotated away, the new file is not there yet
        if info.st_ino != inode:
            rest = handle.read()
            if rest:
                yield rest
            handle.close()
            handle = _open(path)
            inode = os.fstat(handle.fileno()).st_ino
        elif info.st_size < handle.tell():
            handle.seek(0)


class _Progress:
    """A progress line on stderr for big files, only when stderr is a terminal."""

    def __init__(self, env: Env, path: Path) -> None:
        self._env = env
        self._size = path.stat().st_size
        self._on = isatty(env.stderr) and self._size > 32 * BLOCK
        self._last = 0.0

    def show(self, handle: IO[bytes]) -> None:
        now = time.monotonic()
        if not self._on or now - self._last < 0.5:
            return
        self._last = now
        position = getattr(handle, "fileobj", handle).tell()
        self._env.stderr.write(f"\rkb: reading {100 * position // self._size:3d}%")
        self._env.stderr.flush()

    def done(self) -> None:
        if self._on:
            self._env.stderr.write("\r" + " " * 24 + "\r")


class _Output:
    """Renders problems live or at the end, as text or NDJSON."""

    def __init__(self, env: Env, args: argparse.Namespace, live: bool) -> None:
        self.env = env
        self.json = bool(args.json)
        self.brief = bool(args.brief)
        self.live = live
        self.interrupted = False
        self._printed: dict[tuple[str, str], int] = {}  # problem -> count when last printed
        self._updated = time.monotonic()

    def feed(self, diagnoser: Diagnoser, blocks: Iterator[bytes]) -> None:
        for data in blocks:
            new = diagnoser.feed_bytes(data)
            if self.live:
                for problem in new:
                    self._emit(problem)
                self._updates(diagnoser)

    def _updates(self, diagnoser: Diagnoser) -> None:
        """In live NDJSON, problems whose count grew are sent again, at most every few s."""
        now = time.monotonic()
        if not self.json or now - self._updated < UPDATE_EVERY:
            return
        self._updated = now
        for problem in diagnoser.result().problems:
            if self._printed.get(_key(problem), problem.count) != problem.count:
                self._emit(problem)

    def _emit(self, problem: Problem) -> None:
        self._printed[_key(problem)] = problem.count
        if self.json:
            self.env.stdout.write(dumps(problem.as_json()) + "\n")
        elif self.brief:
            self.env.stdout.write(brief_line(problem) + "\n")
        else:
            self._block(problem)
        self.env.stdout.flush()

    def finish(self, diagnosis: Diagnosis) -> None:
        if self.json:
            for problem in diagnosis.problems:
                if self._printed.get(_key(problem)) != problem.count:
                    self.env.stdout.write(dumps(problem.as_json()) + "\n")
            self.env.stdout.write(dumps(diagnosis.summary()) + "\n")
            return
        if self.live:
            self.env.stdout.write(_summary_text(diagnosis) + "\n")
            for problem in diagnosis.problems:
                self.env.stdout.write("  " + brief_line(problem) + "\n")
            return
        self.env.stdout.write(_summary_text(diagnosis) + "\n")
        for problem in diagnosis.problems:
            if self.brief:
                self.env.stdout.write(brief_line(problem) + "\n")
            else:
                self._block(problem)

    def _block(self, problem: Problem) -> None:
        out = self.env.stdout
        out.write("\n" + brief_line(problem) + "\n")
        when = f"{problem.first_time} .. {problem.last_time}" if problem.first_time else ""
        out.write(f"   lines {problem.first_line}-{problem.last_line}"
                  f"{'  ' + clean(when, keep_newlines=False) if when else ''}\n")
        out.write(f"   sample: {clean(problem.sample[:300], keep_newlines=False)}\n")
        out.write(f"   remedy ({problem.entry.id}):\n")
        write_markdown(out, problem.entry.answer, rich=self.env.color)


def _key(problem: Problem) -> tuple[str, str]:
    return (problem.entry.id, problem.template)


def brief_line(problem: Problem) -> str:
    """One line: count, level, id, confidence, title."""
    level = f"[{problem.level}]" if problem.level else "[-]"
    return (f"{problem.count:6d}x {level:9s} {problem.entry.id} ({problem.confidence:.2f}) "
            f"{clean(problem.entry.title, keep_newlines=False)}")


def _summary_text(d: Diagnosis) -> str:
    return (f"kb diagnose: {d.lines} lines, {len(d.problems)} problem(s), "
            f"{d.matched_lines} line(s) matched")


def unmatched_markdown(diagnosis: Diagnosis) -> str:
    """A Markdown stub of error-looking templates with no confident answer."""
    out = ["# Unmatched errors", "",
           "Error-looking log lines that kb had no confident answer for, most frequent first.",
           "Turn each into a real entry: write the question and the remedy, keep the signature.",
           ""]
    for item in diagnosis.unmatched:
        literal = item.template.split("<", 1)[0].strip() or item.template
        out += [f"## What does \"{_heading(item.template)}\" mean?", "",
                f"Seen {item.count} time(s), first at line {item.first_line}:", "",
                "```text", clean(item.example, keep_newlines=False), "```", "",
                "TODO: explain the cause and the remedy.", "",
                "```kb", "signatures:", f"- {clean(literal, keep_newlines=False)}",
                "examples:", f"- {clean(item.example, keep_newlines=False)}", "```", ""]
    return "\n".join(out)


def _heading(template: str) -> str:
    text = clean(template, keep_newlines=False).replace('"', "'")
    return text if len(text) <= 100 else text[:99] + "\u2026"

