"""Content checks beyond compiling: references, examples and required ids."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

from kb.compiler import compile_report
from kb.errors import ContentError
from kb.logline import parse
from kb.model import Entry
from kb.signals import Signals

REQUIRED_IDS_FILE = "required-ids.tsv"


def lint(paths: Iterable[Path | str]) -> list[str]:
    """Every problem in the content under ``paths`` as ``file:line: message`` (empty: clean):
    what does not compile, broken references and examples, missing required ids, and files
    in which kb found no entry at all."""
    chosen = [Path(p) for p in paths]
    try:
        entries, _, empty = compile_report(chosen)
    except ContentError as exc:
        return exc.problems
    return [*empty, *check_references(entries), *check_examples(entries),
            *check_required(chosen, entries)]


def lint_warnings(paths: Iterable[Path | str]) -> list[str]:
    """Things worth fixing that do not make content wrong (``kb lint`` prints them, exit 0):
    text that ended up in no entry, answers over the size limit (a missed split), questions
    without an answer, entries never verified."""
    try:
        entries, notes, _ = compile_report([Path(p) for p in paths])
    except ContentError:
        return []
    return [*notes, *check_verified(entries)]


def check_verified(entries: Sequence[Entry]) -> list[str]:
    """Entries that never say what they were verified against (only in collections where some
    entry does: a FAQ that never uses ``verified`` is not nagged)."""
    if not any(e.verified for e in entries):
        return []
    return [
        f"{e.source}: warning: never verified: add 'verified: <what it was checked against>' "
        "to its kb block once its recipes and strings are checked"
        for e in entries
        if not e.verified
    ]


def check_references(entries: Sequence[Entry]) -> list[str]:
    """see_also ids that name no entry."""
    known = {e.id for e in entries}
    return [
        f"{e.source}: see_also names unknown id '{ref}': fix the id or remove it"
        for e in entries
        for ref in e.see_also
        if ref not in known
    ]


def check_examples(entries: Sequence[Entry]) -> list[str]:
    """Examples that match none of their own entry's signatures."""
    problems = []
    for entry in entries:
        if entry.examples and not entry.signatures:
            problems.append(f"{entry.source}: examples given but no signatures to match them")
            continue
        own = Signals([entry])
        for example in entry.examples:
            if not own.match(parse(example)):
                problems.append(
                    f"{entry.source}: example matches none of the entry's signatures: "
                    f"{example[:80]!r}: add a signature for it or fix the example"
                )
    return problems


def check_required(paths: Sequence[Path], entries: Sequence[Entry]) -> list[str]:
    """Ids listed in a folder's required-ids.tsv (id, section, ...) missing or misplaced."""
    sections = {e.id: e.section for e in entries}
    problems = []
    for folder in (p for p in paths if p.is_dir()):
        for table in sorted(folder.rglob(REQUIRED_IDS_FILE)):
            with table.open(encoding="utf-8", newline="") as handle:
                for number, row in enumerate(csv.reader(handle, delimiter="\t"), 1):
                    if number == 1 or not row or not row[0].strip():
                        continue
                    wanted = row[0].strip()
                    if wanted not in sections:
                        problems.append(f"{table}:{number}: required id '{wanted}' has no entry")
                    elif len(row) > 1 and row[1].strip() and sections[wanted] != row[1].strip():
                        problems.append(
                            f"{table}:{number}: '{wanted}' should be in section '{row[1]}', "
                            f"not '{sections[wanted]}'"
                        )
    return problems
