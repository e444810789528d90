"""What ``kb diagnose`` prints: a summary to read at a glance, then each problem's first step.

Three formats over one Diagnosis (an object each, so a new one is a new class):

- ``Text``: the summary block (one line per problem: count, level, the log message template,
  the answer's title), "start here", then per problem where it was seen, the log line, the
  lines of the same connection or start, and the *first thing to do* (the answer's opening
  paragraph, and its first command block with the log's own host, port and files filled in);
  ``--full`` prints whole answers. Colour on a terminal only (``--color``), Markdown rendered on
  a terminal even without colour.
- ``Brief``: one line per problem, with the log message.
- ``Ndjson``: one object per problem (``Problem.as_json`` plus the first step), then a summary.

Everything from a log or a content file goes through ``clean`` before it is printed.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from frontends.render import clean, dumps, write_markdown
from kb import Diagnosis, Problem, fill_in, parse, values_from

if TYPE_CHECKING:
    from kb import EntryRecord

_LEVEL_STYLE = {"emerg": "1;31", "alert": "1;31", "crit": "1;31", "error": "31", "warn": "33",
                "warning": "33", "notice": "2", "info": "2", "debug": "2"}
MAX_CONTEXT_SHOWN = 3


@dataclass
class Style:
    """How to print: colour (ANSI) and Markdown rendering, and the width to fit."""

    color: bool = False
    render: bool = False
    width: int = 100

    def paint(self, text: str, code: str) -> str:
        """``text`` in an ANSI style, when colour is on."""
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code and text else text


def one_line(text: str, width: int) -> str:
    """``text`` cleaned to one line and cut to ``width`` characters (an ellipsis marks a cut)."""
    text = clean(text, keep_newlines=False)
    return text if len(text) <= width else text[: max(1, width - 1)] + "\u2026"


def problem_key(problem: Problem) -> str:
    """A stable key of a problem (entry and template) for scripts that track them."""
    digest = hashlib.blake2b(problem.template.encode("utf-8", "replace"), digest_size=4)
    return f"{problem.record.id}:{digest.hexdigest()}"


def first_step(problem: Problem) -> tuple[str, list[str]]:
    """The first thing to do: the answer's opening paragraph, then its first command block
    with the log's own values filled in when the log names them; and what was filled in."""
    blocks = re.split(r"\n\s*\n", problem.record.answer.strip())
    opening = blocks[0] if blocks else ""
    fence = next((b for b in blocks[1:] if b.lstrip().startswith(("```", "~~~"))), "")
    parsed = parse(problem.sample) if problem.sample.strip() else None
    message = parsed.lines[0].message if parsed is not None and parsed.lines else ""
    values = values_from(message)
    if fence and values:
        filled = fill_in(fence, values)
        if values.used:
            return f"{opening}\n\n{filled}", values.used
    return opening, []


def filled_answer(problem: Problem) -> tuple[str, list[str]]:
    """The whole answer with the log's values filled in (``--full``)."""
    parsed = parse(problem.sample) if problem.sample.strip() else None
    message = parsed.lines[0].message if parsed is not None and parsed.lines else ""
    values = values_from(message)
    filled = fill_in(problem.record.answer, values)
    return filled, values.used


def where(problem: Problem) -> str:
    """file:line of the first occurrence, and of the last when there are more."""
    first = f"{problem.source or '-'}:{problem.first_line}"
    if problem.count == 1:
        return first
    return f"{first} .. {problem.last_source or '-'}:{problem.last_line}"


def when(problem: Problem) -> str:
    """First and last time (one time when they are the same)."""
    if not problem.first_time:
        return ""
    if problem.last_time and problem.last_time != problem.first_time:
        return f"{problem.first_time} .. {problem.last_time}"
    return problem.first_time


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Names for people: the path parts that tell files apart (``logs/web01/error.log`` and
    ``logs/web02/error.log`` are ``web01`` and ``web02``); host names stay as they are."""
    paths = [n for n in names if "/" in n]
    if len(paths) < 2:
        return {n: n for n in names}
    split = [p.split("/") for p in paths]

    def same(index: int) -> bool:
        return len({parts[index] for parts in split}) == 1

    head = 0
    while all(len(parts) > head + 1 for parts in split) and same(head):
        head += 1
    tail = 0
    while all(len(parts) > head + tail + 1 for parts in split) and same(-1 - tail):
        tail += 1
    short = {p: "/".join(parts[head : len(parts) - tail])
             for p, parts in zip(paths, split, strict=True)}
    if len(set(short.values())) < len(short):
        short = {p: p for p in paths}
    return {n: short.get(n, n) for n in names}


def host_totals(problems: Sequence[Problem]) -> dict[str, int]:
    """Occurrences per host over these problems, most first."""
    totals: dict[str, int] = {}
    for problem in problems:
        for host, count in problem.hosts.items():
            totals[host] = totals.get(host, 0) + count
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def summary_line(diagnosis: Diagnosis, sources: Sequence[str]) -> str:
    """The one-line summary: lines read, problems, failed starts, lines matched."""
    starts = sum(1 for p in diagnosis.problems if p.startup)
    named = f" from {clean(', '.join(sources), keep_newlines=False)}" if sources else ""
    failed = f" ({starts} of them failed starts)" if starts else ""
    return (f"kb diagnose: {diagnosis.lines:,} lines{named}: {len(diagnosis.problems)} "
            f"problem(s){failed}, {diagnosis.matched_lines:,} line(s) matched")


class Text:
    """The report for people."""

    def __init__(self, out: IO[str], style: Style, *, full: bool = False,
                 by_host: bool = False) -> None:
        self.out = out
        self.style = style
        self.full = full
        self.by_host = by_host
        self.names: dict[str, str] = {}

    def report(self, diagnosis: Diagnosis, sources: Sequence[str], problems: Sequence[Problem]
               ) -> None:
        """Summary block, start-here line, then each problem in detail."""
        out, style = self.out, self.style
        out.write(style.paint(summary_line(diagnosis, sources), "1") + "\n")
        if not problems:
            return
        hosts = host_totals(problems)
        self.names = short_names(list(hosts))
        if len(hosts) > 1:
            worst = ", ".join(f"{one_line(self.names[h], 40)} ({n:,})"
                              for h, n in list(hosts.items())[:5])
            out.write(f"on {len(hosts)} hosts; most affected: {worst}\n")
        out.write("\n")
        if self.by_host and len(hosts) > 1:
            self.grouped(problems, hosts)
        else:
            for number, problem in enumerate(problems, 1):
                out.write(self.row(number, problem, spread=len(hosts) > 1) + "\n")
        out.write("\n" + self.start_here(problems[0]) + "\n")
        for number, problem in enumerate(problems, 1):
            self.detail(number, problem)

    def grouped(self, problems: Sequence[Problem], hosts: dict[str, int]) -> None:
        """--by-host: each host, worst first, with its own problems and counts."""
        numbers = {id(p): n for n, p in enumerate(problems, 1)}
        for host, total in hosts.items():
            self.out.write(self.style.paint(f"{one_line(self.names[host], 60)}: {total:,} "
                                            "occurrence(s)",
                                            "1") + "\n")
            for problem in problems:
                count = problem.hosts.get(host)
                if count:
                    self.out.write(f"  {count:6,}x #{numbers[id(problem)]:<3d} "
                                   + one_line(f"{problem.record.id} \u00b7 {problem.template}",
                                              self.style.width - 16) + "\n")

    def row(self, number: int, problem: Problem, spread: bool = False) -> str:
        """One line of the summary block."""
        level = clean(problem.level or "-", keep_newlines=False)
        start = " [start]" if problem.startup else ""
        if spread:
            start += f" [{len(problem.hosts)} host{'s' if len(problem.hosts) != 1 else ''}]"
        head = f"{number:3d}. {problem.count:6,}x {level:6s} "
        room = max(20, self.style.width - len(head))
        message_width = max(12, room * 3 // 5)
        title_width = max(8, room - message_width - 3 - len(start))
        template = one_line(problem.template or "(other variants)", message_width)
        title = one_line(problem.record.title, title_width)
        painted_level = self.style.paint(f"{level:6s}", _LEVEL_STYLE.get(level, ""))
        return (f"{number:3d}. {problem.count:6,}x {painted_level} {template:{message_width}s}"
                f" \u2192 {title}{self.style.paint(start, '1;31')}")

    def start_here(self, problem: Problem) -> str:
        """The one problem to look at first (the worst)."""
        what = "Apache did not start: " if problem.startup else ""
        return self.style.paint("Start here: ", "1") + one_line(
            f"{what}{problem.record.title} (kb show {problem.record.id})", self.style.width - 12)

    def detail(self, number: int, problem: Problem) -> None:
        """One problem: where, the log line, its context, the first thing to do."""
        out, style = self.out, self.style
        rule = f"\u2500\u2500 {number}. {problem.record.title}"
        out.write("\n" + style.paint(one_line(rule, style.width), "1") + "\n")
        facts = [f"{problem.count:,}x", clean(problem.level or "no level", keep_newlines=False),
                 f"{clean(problem.record.id, keep_newlines=False)} ({problem.confidence:.2f})"]
        facts += [style.paint("Apache did not start", "1;31")] if problem.startup else []
        out.write("   " + " \u00b7 ".join(facts) + "\n")
        seen = where(problem) + (f"  ({when(problem)})" if when(problem) else "")
        out.write("   seen: " + one_line(seen, style.width - 9) + "\n")
        out.write("   log:  " + one_line(problem.sample, style.width - 9) + "\n")
        shown = problem.context[:MAX_CONTEXT_SHOWN]
        for n, line in enumerate(shown):
            out.write(("   with: " if n == 0 else "         ") + one_line(line, style.width - 9)
                      + "\n")
        if len(problem.context) > len(shown):
            out.write(f"         (+{len(problem.context) - len(shown)} more line(s) of the "
                      "same event)\n")
        markdown, used = filled_answer(problem) if self.full else first_step(problem)
        out.write("   " + style.paint("what to do" if self.full else "first thing to do:", "1")
                  + "\n")
        write_markdown(out, _indent(markdown), rich=style.render, width=style.width,
                       color=style.color)
        if used:
            out.write("   " + style.paint("filled in from your log: ", "2")
                      + one_line(", ".join(used), style.width - 28) + "\n")
        tail = _verified(problem.record)
        if not self.full:
            tail.append(f"the whole answer: kb show {problem.record.id}")
        for line in tail:
            out.write("   " + style.paint(one_line(line, style.width - 3), "2") + "\n")

    def update(self, problem: Problem, was: int) -> None:
        """A live update: a problem seen again."""
        self.out.write(f"  now {problem.count:,}x (was {was:,}x): " + one_line(
            f"{problem.record.id} \u00b7 {problem.template}", self.style.width - 24) + "\n")


def _indent(markdown: str) -> str:
    return markdown if not markdown else "\n".join(
        ("   " + line) if line.strip() else line for line in markdown.splitlines())


def _verified(entry: EntryRecord) -> list[str]:
    return [f"verified against {entry.verified}"] if entry.verified else []


class Brief:
    """One line per problem."""

    def __init__(self, out: IO[str], style: Style) -> None:
        self.out = out
        self.style = style

    def report(self, diagnosis: Diagnosis, sources: Sequence[str], problems: Sequence[Problem]
               ) -> None:
        self.out.write(summary_line(diagnosis, sources) + "\n")
        for problem in problems:
            self.out.write(brief_line(problem, self.style) + "\n")

    def update(self, problem: Problem, was: int) -> None:
        self.out.write(brief_line(problem, self.style) + f"  (was {was:,}x)\n")


def brief_line(problem: Problem, style: Style | None = None) -> str:
    """count, level, id, confidence, the log message template, then the title."""
    style = style or Style()
    level = f"[{problem.level}]" if problem.level else "[-]"
    start = " [start]" if problem.startup else ""
    head = clean(f"{problem.count:6d}x {level:9s} {problem.record.id} ({problem.confidence:.2f})"
                 f"{start} ", keep_newlines=False)
    rest = max(20, style.width - len(head)) if style.render else 100_000  # pipes: whole lines
    return head + one_line(f"{problem.template or '(other variants)'} \u2014 "
                           f"{problem.record.title}", rest)


def problem_json(problem: Problem) -> dict[str, Any]:
    """The JSON of one problem, as every frontend prints it: ``Problem.as_json`` plus a stable
    key, the first thing to do (with the log's values filled in) and what it was verified on."""
    data: dict[str, Any] = problem.as_json()
    step, used = first_step(problem)
    data.update(key=problem_key(problem), first_step=step, filled_in=used,
                verified=problem.record.verified or None)
    return data


def summary_json(diagnosis: Diagnosis) -> dict[str, Any]:
    """The JSON summary of a diagnosis, as every frontend prints it: with the occurrences per
    host (the most affected first, at most 20)."""
    data: dict[str, Any] = diagnosis.summary()
    data["startup_failures"] = sum(1 for p in diagnosis.problems if p.startup)
    hosts = host_totals(diagnosis.problems)
    data["host_count"] = len(hosts)
    data["hosts"] = dict(list(hosts.items())[:20])
    return data


class Ndjson:
    """NDJSON for scripts: problem objects, then the summary object."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def problem(self, problem: Problem) -> None:
        self.out.write(dumps(problem_json(problem)) + "\n")

    def report(self, diagnosis: Diagnosis, sources: Sequence[str], problems: Sequence[Problem]
               ) -> None:
        for problem in problems:
            self.problem(problem)
        self.summary(diagnosis)

    def summary(self, diagnosis: Diagnosis) -> None:
        self.out.write(dumps(summary_json(diagnosis)) + "\n")

    def update(self, problem: Problem, was: int) -> None:
        self.problem(problem)


def terminal_size(out: IO[str], environ: dict[str, str]) -> tuple[int, int]:
    """(columns, rows) of the terminal ``out`` is, from $COLUMNS/$LINES if set."""
    fallback = shutil.get_terminal_size((100, 40))
    try:
        import os

        size = os.get_terminal_size(out.fileno())
        columns, rows = size.columns, size.lines
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        columns, rows = fallback.columns, fallback.lines
    columns = int(environ.get("COLUMNS", columns) or columns)
    rows = int(environ.get("LINES", rows) or rows)
    return max(40, columns), max(5, rows)
