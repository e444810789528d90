"""``kb diagnose``: read logs (files, compressed files, stdin, follow mode) and report problems.

All the understanding is in kb (Diagnoser, Diagnosis); this module opens inputs
(frontends.loginput), runs one diagnoser per file and merges their diagnoses, follows a file,
filters and renders (frontends.report).

- Batch (files, or stdin that is a file): one report at the end; on a terminal it goes
  through ``$PAGER`` when longer than the screen.
- Live (``--follow``, or stdin that is a pipe): each problem is printed when first seen,
  changed counts every few seconds, and a summary at the end: end of input, Ctrl-C or SIGTERM.

Exit codes (like grep's): 0 no problem, 1 problems found, 2 bad arguments or an input that
cannot be read (missing, unreadable, binary, damaged), 3 content error, 130 interrupted,
143 terminated.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from frontends.cli import Env, ExitCode, Stopped, UsageError, content_paths, load
from frontends.loginput import (
    Follower,
    InputError,
    check_text,
    is_regular,
    open_log,
    read_blocks,
    regular_path,
    stdin_blocks,
)
from frontends.render import clean
from frontends.report import Brief, Ndjson, Style, Text, terminal_size

if TYPE_CHECKING:
    from kb import Diagnoser, Diagnosis, KnowledgeBase, Problem

UPDATE_EVERY = 2.0  # seconds between count updates in live mode
LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")
_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")


def run(args: argparse.Namespace, env: Env) -> int:
    """kb diagnose."""
    files = [f for f in args.files if f != "-"]
    use_stdin = not args.files or "-" in args.files
    _check_args(args, files, use_stdin)
    since = _since(args.since) if args.since else ""
    kb = load(args, env)
    live = args.follow or (use_stdin and not _regular_stdin(env))
    out = _Output(env, args, live)
    diagnosis, code = _diagnose(kb, args, env, files, use_stdin, live, out, since)
    if diagnosis is None:
        return code
    found = ExitCode.FOUND if out.shown(diagnosis) else ExitCode.OK
    env.result = found if code == ExitCode.OK else code  # also when the reader goes away
    try:
        out.finish(diagnosis)
    finally:  # a reader that went away (| head) still gets the --unmatched file written
        if args.unmatched is not None:
            _write_unmatched(args.unmatched, diagnosis, env)
    return found if code == ExitCode.OK else code


def _check_args(args: argparse.Namespace, files: list[str], use_stdin: bool) -> None:
    if args.follow and (use_stdin or len(files) != 1):
        raise UsageError("--follow takes exactly one FILE")
    if args.from_start and not args.follow:
        raise UsageError("--from-start goes with --follow")
    if args.json and args.brief:
        raise UsageError("--json and --brief: choose one")
    if args.unmatched is not None and str(args.unmatched) == "-" and args.json:
        raise UsageError("--unmatched - writes Markdown to stdout: not together with --json")
    if args.top is not None and args.top < 1:
        raise UsageError("--top must be at least 1")
    target = args.unmatched
    if target is not None and str(target) != "-":  # before reading a big log, not after
        folder = target.parent
        if target.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
            what = "is a folder" if target.is_dir() else f"cannot write in {folder}"
            raise UsageError(f"--unmatched {target}: {what}")
        if any(_same_file(target, Path(f)) for f in files):
            raise UsageError(f"--unmatched {target}: is a log being read")
        if not _replaceable(target):  # "--unmatched LOG" meant as "--unmatched FILE LOG"
            raise UsageError(f"--unmatched {target}: exists and is not a report kb wrote and "
                             "nobody edited; kb does not overwrite it (remove it or name "
                             "another file)")


def _same_file(a: Path, b: Path) -> bool:
    """The same file, or the same path (a log that --follow waits for is not there yet)."""
    try:
        if a.resolve() == b.resolve():
            return True
        return a.samefile(b)
    except (OSError, RuntimeError):
        return False


MAX_REPORT = 64 << 20  # bytes of an existing report read to check it


def _replaceable(target: Path) -> bool:
    """True when --unmatched may write ``target``: it is not there, it is no regular file (a
    pipe, a terminal), or it is a report kb wrote that nobody has edited since (its last
    line holds a checksum of the rest). An empty file, one kb cannot read, and any other
    text are kept."""
    from frontends.stub import is_unedited_report

    try:
        if not stat.S_ISREG(target.stat().st_mode):
            return True  # opening a FIFO to read it would wait for a writer
        if target.stat().st_size > MAX_REPORT:
            return False
        return is_unedited_report(target.read_bytes())
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _since(text: str) -> str:
    """--since as an ISO 8601 prefix: '2026-12-01', '2026-12-01T07:40', or '2h' ago."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[relative.group(2)]
        return (datetime.now() - timedelta(**{unit: int(relative.group(1))})).isoformat()
    try:
        return datetime.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise UsageError(f"--since {text!r}: give an ISO 8601 time (2026-12-01T07:40) or an "
                         "age such as 30m, 2h, 7d") from None


def _stdin_stream(env: Env) -> object:
    """What stdin reads from: its bytes stream, or the text stream itself (tests)."""
    return env.stdin_binary or getattr(env.stdin, "buffer", env.stdin)


def _regular_stdin(env: Env) -> bool:
    return is_regular(_stdin_stream(env))


def _diagnose(kb: KnowledgeBase, args: argparse.Namespace, env: Env, files: list[str],
              use_stdin: bool, live: bool, out: _Output, since: str
              ) -> tuple[Diagnosis | None, int]:
    """Every input diagnosed; (merged diagnosis, exit code so far)."""
    if args.dask:
        return _diagnose_dask(args, env, files, out, since)
    from kb import fleet

    jobs = args.jobs if args.jobs is not None else fleet.default_jobs(files)
    if not live and not use_stdin and jobs > 1:
        return _diagnose_parallel(args, env, files, jobs, out, since)
    redirected = (regular_path(_stdin_stream(env)) if use_stdin and not files and not live
                  else None)
    if redirected is not None:  # `kb diagnose < big.log`: as the file itself, named stdin
        jobs = args.jobs if args.jobs is not None else fleet.default_jobs([redirected])
        if jobs > 1:
            return _diagnose_parallel(args, env, [redirected], jobs, out, since,
                                      names={redirected: "stdin"})
    parts: list[Diagnosis] = []
    code: int = ExitCode.OK
    inputs = (["-"] if use_stdin else []) + files
    for name in inputs:
        diagnoser = kb.diagnoser(collect_unmatched=args.unmatched is not None,
                                 source="stdin" if name == "-" else name, since=since)
        try:
            out.feed(diagnoser, _blocks(name, args, env))
        except InputError as exc:
            env.stderr.write(f"kb: error: {clean(str(exc), keep_newlines=False)}\n")
            code = ExitCode.USAGE
            if not diagnoser.lines and out.sources[-1:] == [diagnoser.source]:
                out.sources.pop()  # nothing was read from it: not one of the report's inputs
        except KeyboardInterrupt:
            out.interrupted = ExitCode.INTERRUPTED
        except Stopped as stop:  # SIGTERM, SIGHUP: the summary, as for Ctrl-C
            out.interrupted = stop.code
        out.feed_new(diagnoser.flush())
        parts.append(diagnoser.result())
        if out.interrupted:
            break
    if out.interrupted:
        code = out.interrupted
    merged = parts[0]
    for part in parts[1:]:
        merged = merged + part
    return merged, code


def _diagnose_parallel(args: argparse.Namespace, env: Env, files: list[str], jobs: int,
                       out: _Output, since: str, names: dict[str, str] | None = None
                       ) -> tuple[Diagnosis | None, int]:
    """Files, and ranges of big plain files, in ``jobs`` worker processes (kb.fleet);
    ``names``: the name a file's problems and the report give it, when not its path."""
    from functools import partial

    from kb import fleet

    factory = partial(fleet.load, [str(p) for p in content_paths(args, env)],
                      str(env.cache_dir) if env.cache_dir else None)
    readable = []
    code: int = ExitCode.OK
    for name in files:  # the errors a sequential run gives, in the same order
        path = Path(name)
        if not path.exists() or path.is_dir() or not os.access(path, os.R_OK):
            try:
                open_log(path).close()
            except InputError as exc:
                env.stderr.write(f"kb: error: {clean(str(exc), keep_newlines=False)}\n")
                code = ExitCode.USAGE
                continue
        readable.append(name)
    sources = [(names or {}).get(name, name) for name in readable]
    out.sources.extend(sources)
    if not readable:
        return None, code
    parts = fleet.plan(readable, jobs, sources=sources)
    options = fleet.Options(collect_unmatched=args.unmatched is not None, since=since)
    try:
        diagnosis, errors = fleet.diagnose_parallel(factory, parts, jobs, options)
    except KeyboardInterrupt:
        return None, ExitCode.INTERRUPTED
    for error in errors:
        env.stderr.write(f"kb: error: {clean(error, keep_newlines=False)}\n")
        code = ExitCode.USAGE
    return diagnosis, code


def _diagnose_dask(args: argparse.Namespace, env: Env, patterns: list[str], out: _Output,
                   since: str) -> tuple[Diagnosis | None, int]:
    """--dask SCHEDULER|local: the map/reduce of kb.dask on a Dask cluster."""
    try:
        from distributed import Client, LocalCluster

        from kb import dask as kb_dask
    except ImportError:
        raise UsageError("--dask needs the dask extra: pip install 'kb[dask]'") from None
    out.sources.extend(patterns)
    content = [str(p) for p in content_paths(args, env)]
    cache = str(env.cache_dir) if env.cache_dir else None
    def run() -> Diagnosis:
        return kb_dask.diagnose(patterns, content=content, cache_dir=cache,
                                pieces=args.jobs or 1, since=since,
                                collect_unmatched=args.unmatched is not None)

    try:
        if args.dask == "local":
            with LocalCluster(n_workers=args.jobs or os.cpu_count() or 1, threads_per_worker=1,
                              processes=True, dashboard_address=None) as cluster, \
                    Client(cluster):
                return run(), ExitCode.OK
        with Client(args.dask, timeout="20s"):
            return run(), ExitCode.OK
    except InputError as exc:
        env.stderr.write(f"kb: error: {clean(str(exc), keep_newlines=False)}\n")
        return None, ExitCode.USAGE
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--dask {args.dask}: cannot reach the scheduler ({exc})") from None


def _blocks(name: str, args: argparse.Namespace, env: Env) -> Iterator[bytes]:
    if name == "-":
        return _stdin_blocks(env)
    path = Path(name)
    if args.follow:
        def notice(text: str) -> None:
            env.stderr.write(f"kb: {clean(text, keep_newlines=False)}\n")

        follower = Follower(path, from_start=args.from_start, notice=notice)
        return follower.blocks()
    return _file_blocks(path, env)


def _stdin_blocks(env: Env) -> Iterator[bytes]:
    stream: IO[bytes] | None = env.stdin_binary or getattr(env.stdin, "buffer", None)
    try:
        if stream is None:  # a text stream (tests)
            first = True
            while text := env.stdin.read(1 << 20):
                data = text.encode("utf-8", "surrogateescape")
                if first:
                    check_text(data, "stdin")
                    first = False
                yield data
            return
        yield from stdin_blocks(stream)
    except OSError as exc:  # closed (<&-), or a read error: an input that cannot be read
        raise InputError(f"stdin: {exc.strerror or exc}") from None


def _file_blocks(path: Path, env: Env) -> Iterator[bytes]:
    handle = open_log(path)
    progress = _Progress(env, path)
    try:
        for chunk in read_blocks(handle, str(path)):
            progress.show(handle)
            yield chunk
        progress.done()
    finally:
        handle.close()


class _Progress:
    """A progress line on stderr for big files, only when stderr is a terminal."""

    def __init__(self, env: Env, path: Path) -> None:
        from frontends.cli import isatty

        self._env = env
        try:
            self._size = path.stat().st_size
        except OSError:
            self._size = 0
        self._on = isatty(env.stderr) and self._size > 32 << 20
        self._last = 0.0

    def show(self, handle: IO[bytes]) -> None:
        now = time.monotonic()
        if not self._on or now - self._last < 0.5:
            return
        self._last = now
        raw = getattr(handle, "fileobj", None) or getattr(handle, "_fp", None) or handle
        try:
            position = raw.tell()
        except (OSError, ValueError, AttributeError):
            return
        self._env.stderr.write(f"\rkb: reading {100 * position // max(1, self._size):3d}%")
        self._env.stderr.flush()

    def done(self) -> None:
        if self._on:
            self._env.stderr.write("\r" + " " * 24 + "\r")


class _Output:
    """Renders problems live or at the end, in the chosen format, filtered."""

    def __init__(self, env: Env, args: argparse.Namespace, live: bool) -> None:
        self.env = env
        self.args = args
        self.live = live
        self.interrupted = 0
        columns, self.rows = terminal_size(env.stdout, env.environ)
        self.style = Style(color=_color(args, env), render=bool(env.stdout_isatty),
                           width=columns if env.stdout_isatty else 100)
        self.sources: list[str] = []
        self._printed: dict[tuple[str, str], int] = {}  # problem -> count when last printed
        self._updated = time.monotonic()
        self._live_diagnoser: Diagnoser | None = None

    def _format(self, out: IO[str]) -> Text | Brief | Ndjson:
        if self.args.json:
            return Ndjson(out)
        if self.args.brief:
            return Brief(out, self.style)
        return Text(out, self.style, full=self.args.full, by_host=self.args.by_host)

    def feed(self, diagnoser: Diagnoser, blocks: Iterator[bytes]) -> None:
        self.sources.append(diagnoser.source)
        self._live_diagnoser = diagnoser
        for data in blocks:
            new = diagnoser.feed_bytes(data)
            if not data:  # a quiet moment of a followed file: its open episodes are done
                new += diagnoser.settle()
            self.feed_new(new)
            if self.live:
                self._updates(diagnoser)

    def feed_new(self, problems: list[Problem]) -> None:
        if not self.live:
            return
        for problem in problems:
            if self.wanted(problem):
                self._emit(problem)

    def wanted(self, problem: Problem) -> bool:
        """--level: problems at this level or worse."""
        level = self.args.level
        return level is None or problem.severity <= LEVELS.index(level)

    def shown(self, diagnosis: Diagnosis) -> list[Problem]:
        """The problems the report shows: filtered, and cut to --top."""
        problems = [p for p in diagnosis.problems if self.wanted(p)]
        return problems[: self.args.top] if self.args.top else problems

    def _updates(self, diagnoser: Diagnoser) -> None:
        """Problems whose count grew are shown again, at most every few seconds."""
        now = time.monotonic()
        if now - self._updated < UPDATE_EVERY:
            return
        self._updated = now
        fmt = self._format(self.env.stdout)
        for problem in diagnoser.result().problems:
            key = (problem.record.id, problem.template)
            was = self._printed.get(key)
            if was is not None and was != problem.count:
                self._printed[key] = problem.count
                fmt.update(problem, was)
        self.env.stdout.flush()

    def _emit(self, problem: Problem) -> None:
        self._printed[(problem.record.id, problem.template)] = problem.count
        self.env.result = ExitCode.FOUND  # a problem is being printed
        fmt = self._format(self.env.stdout)
        if isinstance(fmt, Ndjson):
            fmt.problem(problem)
        elif isinstance(fmt, Brief):
            self.env.stdout.write(_brief(problem, self.style) + "\n")
        else:
            fmt.detail(len(self._printed), problem)
        self.env.stdout.flush()

    def finish(self, diagnosis: Diagnosis) -> None:
        problems = self.shown(diagnosis)
        if self.live:
            self._finish_live(diagnosis, problems)
            return
        buffer = io.StringIO()
        self._format(buffer).report(diagnosis, self.sources, problems)
        text = buffer.getvalue()
        if not self._page(text):
            self.env.stdout.write(text)
        self.env.stdout.flush()

    def _finish_live(self, diagnosis: Diagnosis, problems: list[Problem]) -> None:
        """The end of a live run: the summary, and the counts that changed (no second list)."""
        fmt = self._format(self.env.stdout)
        if isinstance(fmt, Ndjson):
            for problem in problems:
                if self._printed.get((problem.record.id, problem.template)) != problem.count:
                    fmt.problem(problem)
            fmt.summary(diagnosis)
            return
        from frontends.report import summary_line

        self.env.stdout.write("\n" + self.style.paint(summary_line(diagnosis, self.sources),
                                                      "1") + "\n")
        for problem in problems:
            was = self._printed.get((problem.record.id, problem.template))
            if was is None:
                self.env.stdout.write(_brief(problem, self.style) + "\n")
            elif was != problem.count:
                fmt.update(problem, was)

    def _page(self, text: str) -> bool:
        """Show ``text`` through $PAGER on a terminal when it is longer than the screen."""
        if not self.env.stdout_isatty or self.args.no_pager or self.args.json:
            return False
        if text.count("\n") < self.rows - 1:
            return False
        pager = self.env.environ.get("KB_PAGER", self.env.environ.get("PAGER", "less"))
        if not pager.strip() or pager.strip() == "cat":
            return False
        command = pager.split()
        if shutil.which(command[0]) is None:
            return False
        environ = dict(self.env.environ)
        environ.setdefault("LESS", "FRX")  # as git does: quit if one screen, keep colours
        try:
            subprocess.run(command, input=text, text=True, env=environ,  # noqa: S603
                           check=False, stdout=self.env.stdout)
        except (OSError, ValueError, io.UnsupportedOperation):
            return False
        return True


def _brief(problem: Problem, style: Style) -> str:
    from frontends.report import brief_line

    return brief_line(problem, style)


def _color(args: argparse.Namespace, env: Env) -> bool:
    if args.color == "always":
        return True
    if args.color == "never":
        return False
    return env.color


def _write_unmatched(target: Path, diagnosis: Diagnosis, env: Env) -> None:
    from frontends.stub import unmatched_markdown

    text = unmatched_markdown(diagnosis)
    if str(target) == "-":
        env.stdout.write(text)
        return
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        env.stderr.write(f"kb: error: {clean(str(target), keep_newlines=False)}: "
                         f"{exc.strerror or exc}\n")
