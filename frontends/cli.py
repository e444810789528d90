"""The ``kb`` command: argument parsing, one library call per command, one error funnel.

Exit codes (``ExitCode``): 0 success; 1 ``search`` found nothing, ``lint`` found problems,
``diagnose`` found problems; 2 usage error (bad arguments, empty query); 3 content error;
4 unknown entry id; 5 other error (I/O, damaged state, an index ``kb build`` could not
cache); 129 hung up (SIGHUP), 130 interrupted (SIGINT), 143 terminated (SIGTERM). When the
reader of the output goes away (``kb ... | head``) the code is the one the output so far
stands for (``Env.result``): ``diagnose`` that was printing problems exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from enum import IntEnum
from pathlib import Path

# Not typing.TYPE_CHECKING: `kb --version` and `kb --help` import argparse and nothing else
# that `python -c pass` does not (typing and dataclasses alone cost ~12 ms).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO

    from kb import KnowledgeBase


class ExitCode(IntEnum):
    """Documented exit codes of every kb command."""

    OK = 0
    FOUND = 1  # search: no match; lint/diagnose: problems found
    USAGE = 2
    CONTENT = 3
    UNKNOWN_ID = 4
    ERROR = 5
    HANGUP = 129  # SIGHUP (128 + 1)
    INTERRUPTED = 130
    TERMINATED = 143  # SIGTERM (128 + 15)


class Stopped(BaseException):  # noqa: N818 - a stop, not an error: like KeyboardInterrupt
    """SIGTERM or SIGHUP arrived: unwind like Ctrl-C (temporary files go, ``diagnose``
    prints its summary), then exit 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.code = 128 + signum


class Env:
    """All I/O of one run, so tests can run the CLI in-process with StringIO.

    ``result``: the exit code the output written so far stands for, set by a command before
    it writes; returned when the reader goes away (a broken pipe) before the command ends."""

    def __init__(self, stdin: IO[str] | None = None, stdout: IO[str] | None = None,
                 stderr: IO[str] | None = None, environ: dict[str, str] | None = None,
                 stdout_isatty: bool | None = None, stdin_isatty: bool | None = None,
                 stdin_binary: IO[bytes] | None = None) -> None:
        self.stdin: IO[str] = stdin if stdin is not None else _standard("stdin")
        self.stdout: IO[str] = stdout if stdout is not None else _standard("stdout")
        self.stderr: IO[str] = stderr if stderr is not None else _standard("stderr")
        self.environ: dict[str, str] = environ if environ is not None else dict(os.environ)
        self.stdout_isatty = isatty(self.stdout) if stdout_isatty is None else stdout_isatty
        self.stdin_isatty = isatty(self.stdin) if stdin_isatty is None else stdin_isatty
        self.stdin_binary = stdin_binary
        self.result: int = 0

    @property
    def cache_dir(self) -> Path | None:
        """Where indexes are cached: $KB_CACHE_DIR, else None (kb's per-user default)."""
        value = self.environ.get("KB_CACHE_DIR")
        return Path(value) if value else None

    @property
    def color(self) -> bool:
        """Colour and rich rendering: only on a terminal, never with NO_COLOR or TERM=dumb."""
        return bool(
            self.stdout_isatty
            and "NO_COLOR" not in self.environ
            and self.environ.get("TERM", "") != "dumb"
        )


def _standard(name: str) -> IO[str]:
    from frontends.streams import standard

    return standard(name)  # type: ignore[no-any-return]


def isatty(stream: IO[str]) -> bool:
    """True when ``stream`` is a terminal (False for in-memory and closed streams)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class UsageError(Exception):
    """Bad command-line input (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")




def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``kb`` and all its commands."""
    from kb import __version__

    parser = _Parser(
        prog="kb",
        description="Answers 'this line is in my error log - what do I do?' from FAQ Markdown.",
        epilog="Exit codes: 0 ok, 1 nothing found / problems found, 2 usage, 3 content error, "
        "4 unknown id, 5 other error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"kb {__version__}")
    _common(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    from frontends import commands as cmd

    for spec in cmd.SPECS:
        sub = commands.add_parser(spec.name, help=spec.help,
                                  description=spec.description or spec.help)
        _common(sub, suppress=True)
        spec.arguments(sub)
        sub.set_defaults(handler=spec.handler)
    return parser


def _common(parser: argparse.ArgumentParser, suppress: bool = False) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--kb",
        action="append",
        metavar="PATH",
        default=default,
        help="extra FAQ Markdown file or folder, beside the shipped FAQ (repeatable; "
        "also KB_PATH, separated by the OS path separator)",
    )
    parser.add_argument(
        "--no-default",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="do not load the shipped FAQ (use only --kb / KB_PATH content)",
    )
    parser.add_argument(
        "--collection",
        action="append",
        metavar="NAME",
        default=default,
        help="answer from this collection only (repeatable; a collection is one --kb path, "
        "named after the file or folder; the shipped FAQ is 'mod_ssl')",
    )
    parser.add_argument(
        "--strict",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="a content file that does not compile is an error (default: that collection is "
        "skipped with a warning, or its last good index is used)",
    )
    parser.add_argument(
        "--no-semantic",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="rank by kb alone even when the semantic extra (kb[semantic]) is installed",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="show the Python traceback of an error",
    )


def content_paths(args: argparse.Namespace, env: Env) -> list[Path]:
    """The collections to load: shipped FAQ (unless --no-default), KB_PATH, then --kb."""
    from kb import default_content_dir

    paths: list[Path] = [] if args.no_default else [default_content_dir()]
    extra = env.environ.get("KB_PATH", "")
    paths += [Path(p) for p in extra.split(os.pathsep) if p]
    paths += [Path(p) for p in (args.kb or [])]
    if not paths:
        raise UsageError("no content: --no-default needs --kb PATH or KB_PATH")
    return paths


def load(args: argparse.Namespace, env: Env) -> KnowledgeBase:
    """The knowledge base for this run; warnings go to stderr, one line each."""
    from kb import KnowledgeBase

    kb = KnowledgeBase.from_paths(content_paths(args, env), cache_dir=env.cache_dir,
                                  strict=getattr(args, "strict", False),
                                  semantic=False if getattr(args, "no_semantic", False) else None)
    if getattr(args, "collection", None):
        kb = kb.only(args.collection)
    for warning in kb.warnings:
        from frontends.render import clean

        env.stderr.write(f"kb: warning: {clean(warning, keep_newlines=False)}\n")
    return kb


def main(argv: Sequence[str] | None = None, env: Env | None = None) -> int:
    """Run ``kb``; the one place where exceptions become messages and exit codes."""
    env = env or Env()
    argv = list(sys.argv[1:] if argv is None else argv)
    show_traceback = "--traceback" in argv
    previous = _stop_on_signals()
    try:
        args = build_parser().parse_args(argv)
        if not getattr(args, "handler", None):
            build_parser().print_help(env.stdout)
            return ExitCode.USAGE
        return int(args.handler(args, env))
    except KeyboardInterrupt:
        env.stderr.write("kb: interrupted\n")
        return ExitCode.INTERRUPTED
    except Stopped as stop:
        env.stderr.write("kb: terminated\n" if stop.code == ExitCode.TERMINATED
                         else "kb: hung up\n")
        return stop.code
    except BrokenPipeError:
        _quiet_broken_pipe()
        return env.result
    except BaseException as exc:  # noqa: BLE001 - the one error funnel
        if isinstance(exc, SystemExit):
            return int(exc.code or 0) if isinstance(exc.code, int) else ExitCode.OK
        code, message = _describe(exc)
        if show_traceback:
            import traceback  # only on this path: it costs a search process 2 ms

            env.stderr.write("".join(traceback.format_exception(exc)))
        from frontends.render import clean

        for line in message.splitlines() or [""]:
            env.stderr.write(f"kb: error: {clean(line, keep_newlines=False)}\n")
        return code
    finally:
        _restore_signals(previous)


STOP_SIGNALS = ("SIGTERM", "SIGHUP")


def _stop_on_signals() -> dict[int, object]:
    """SIGTERM and SIGHUP raise Stopped in the main thread (elsewhere: left alone)."""
    def stop(signum: int, frame: object) -> None:
        raise Stopped(signum)

    previous: dict[int, object] = {}
    for name in STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is None:  # pragma: no cover - not on Windows
            continue
        with contextlib.suppress(ValueError, OSError):  # not the main thread (a test's worker)
            previous[number] = signal.signal(number, stop)
    return previous


def _restore_signals(previous: dict[int, object]) -> None:
    for number, handler in previous.items():
        with contextlib.suppress(ValueError, OSError, TypeError):
            signal.signal(number, handler)  # type: ignore[arg-type]


def _describe(exc: BaseException) -> tuple[int, str]:
    from kb import ContentError, QueryError, UnknownEntryError

    if isinstance(exc, UsageError | QueryError):
        return ExitCode.USAGE, str(exc)
    if isinstance(exc, ContentError):
        return ExitCode.CONTENT, str(exc)
    if isinstance(exc, UnknownEntryError):
        return ExitCode.UNKNOWN_ID, str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return ExitCode.ERROR, f"{where}{exc.strerror or exc}"
    return ExitCode.ERROR, f"{type(exc).__name__}: {exc} (run with --traceback for details)"


def _quiet_broken_pipe() -> None:
    # The reader went away (kb ... | head): silence Python's flush error at exit.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    # Through the package's own module, not this __main__ copy of it: the commands raise
    # frontends.cli's UsageError and Stopped, which only that module's main() recognises.
    from frontends import cli

    sys.exit(cli.main())
