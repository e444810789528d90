"""FAQ Markdown -> entries, through markdown-it-py's token stream (which keeps line numbers).

The format is documented in docs/content-format.md. Every problem is reported as
``file:line: what is wrong: what to do`` and all problems of a run are collected before raising,
so one ``kb lint`` shows everything that needs fixing.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kb.blocks import Block, BlockKind, blocks_of
from kb.errors import ContentError
from kb.files import markdown_listing
from kb.frontmatter import split_front_matter
from kb.layout import Span, contexts_of, layout
from kb.model import ID_RE, Entry, Signature, SignatureKind, Source
from kb.regexguard import RegexRejected, check_pattern

META_INFO = "kb"
MAX_ANSWER = 12000  # characters: an answer longer than this is probably several (kb lint)
LIST_KEYS = frozenset({"signatures", "examples", "questions"})
COMMA_KEYS = frozenset({"tags", "see_also"})
SCALAR_KEYS = frozenset({"id", "verified"})
KNOWN_KEYS = LIST_KEYS | COMMA_KEYS | SCALAR_KEYS
MAX_ITEM = 4000


@dataclass
class _Meta:
    values: dict[str, object] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


class _Problems:
    """Collects ``file:line: message`` strings."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.notes: list[str] = []  # not wrong, worth knowing: kb lint prints them
        self.generated: set[tuple[str, int]] = set()  # (file, line) of entries with made ids

    def note(self, where: str, line: int, message: str) -> None:
        self.notes.append(f"{where}:{line}: warning: {message}")

    def add(self, where: str, line: int, message: str, col: int | None = None) -> None:
        at = f"{line}:{col}" if col is not None else str(line)
        self.items.append(f"{where}:{at}: {message}")


def slugify(text: str, limit: int = 64) -> str:
    """An id from a question: ascii, lower case, words joined by '-', cut at a word boundary.
    Apostrophes inside words are dropped, as GitHub's heading anchors do (``doesn't`` gives
    ``doesnt``), so most ids equal the anchor of the same heading."""
    import unicodedata  # only when an id is made from a title (never on a warm start)

    text = re.sub(r"(?<=\w)['\u2019](?=\w)", "", text)
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > limit:
            break
        slug = candidate
    return slug or "entry"


def compile_paths(paths: Iterable[Path | str], collection: str = "") -> list[Entry]:
    """Compile every Markdown file under ``paths`` into entries; ContentError lists all problems."""
    return compile_report(paths, collection)[0]


def compile_report(paths: Iterable[Path | str], collection: str = ""
                   ) -> tuple[list[Entry], list[str], list[str]]:
    """``compile_paths`` plus what ``kb lint`` reports of content that compiles: notes (text
    in no entry, answers over MAX_ANSWER characters, probably a missed split, questions
    without an answer) and files with no entry at all."""
    problems = _Problems()
    entries: list[Entry] = []
    empty: list[str] = []
    files, unreadable = markdown_listing(paths)
    problems.items.extend(unreadable)
    for path in files:
        found = _compile_file(path, problems, collection or path.parent.name)
        if not found and not any(p.startswith(f"{path}:") for p in problems.items):
            empty.append(f"{path}:1: no entry found: write each question as a heading with "
                         "its answer below it (docs/content-format.md)")
        entries.extend(found)
    entries = _distinct_ids(entries, problems.generated)
    _check_unique(entries, problems)
    if problems.items:
        raise ContentError(problems.items)
    return entries, problems.notes, empty


def compile_text(text: str, name: str = "<text>", collection: str = "") -> list[Entry]:
    """Compile one Markdown document given as text."""
    problems = _Problems()
    entries = _compile_source(text, name, Path(name).stem, problems, collection)
    entries = _distinct_ids(entries, problems.generated)
    _check_unique(entries, problems)
    if problems.items:
        raise ContentError(problems.items)
    return entries


def _compile_file(path: Path, problems: _Problems, collection: str) -> list[Entry]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.add(str(path), 0, f"cannot read file: {exc.strerror or exc}")
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.add(
            str(path), line, f"not UTF-8 (byte 0x{data[exc.start]:02x}): save the file as UTF-8"
        )
        return []
    return _compile_source(text, str(path), path.stem, problems, collection)


def _compile_source(
    text: str, where: str, stem: str, problems: _Problems, collection: str
) -> list[Entry]:
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        problems.add(where, line, "NUL byte in a Markdown file: remove it")
        return []
    # One line end for markdown-it and for our line list alike (CRLF and lone CR files too).
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")  # as markdown-it counts lines (not str.splitlines' \x0b, \u2028 ...)
    front = split_front_matter(lines)  # blanked out of ``lines``, which keep their numbers
    from markdown_it import MarkdownIt  # imported here: a warm start never parses Markdown

    blocks = _demote_setext(blocks_of(MarkdownIt("commonmark").parse("\n".join(lines))))
    name = stem.replace("_", " ").replace("-", " ")
    page = front.title or (name.title() if name.islower() else name)
    plan = layout(blocks, lines, page)
    contexts = contexts_of(plan.spans)
    entries = []
    for number, span in enumerate(plan.spans):
        if span.context or not span.title:
            continue
        context = contexts.get(number, "")
        entry = _entry(span, lines, where, problems, collection, front.tags, context)
        if entry is not None:
            entries.append(entry)
            if len(entry.answer) > MAX_ANSWER:
                problems.note(where, entry.source.line, f"answer of '{entry.title[:60]}' has "
                              f"{len(entry.answer)} characters (over {MAX_ANSWER}): probably "
                              "several questions kb did not split; make each a heading")
    for block in plan.dropped:
        problems.note(where, block.line + 1, f"text in no entry: '{_first_words(lines, block)}'"
                      ": put it under a question heading or remove it")
    for head in plan.unanswered:
        problems.note(where, head.line + 1, f"question '{head.title[:60]}' has no answer below "
                      "it: read as a section heading")
    return entries


def _demote_setext(blocks: list[Block]) -> list[Block]:
    """A paragraph underlined with ``---`` right below a heading is that heading's answer
    followed by a thematic break, not a heading of its own (CommonMark says heading; the
    author of a FAQ means a rule)."""
    out: list[Block] = []
    for block in blocks:
        if (block.kind is BlockKind.HEADING and block.setext and out
                and out[-1].kind is BlockKind.HEADING):
            block = Block(BlockKind.TEXT, block.line, block.end)
        out.append(block)
    return out


def _first_words(lines: list[str], block: Block) -> str:
    words = " ".join(lines[n].strip() for n in range(block.line, min(block.end, block.line + 3)))
    return words[:60] + ("..." if len(words) > 60 else "")


def _entry(
    span: Span,
    lines: list[str],
    where: str,
    problems: _Problems,
    collection: str,
    page_tags: tuple[str, ...],
    context: str,
) -> Entry | None:
    line_no = span.line + 1
    if not span.title:
        problems.add(where, line_no, "empty heading: write the question after the #")
        return None
    fences = span.metas
    if len(fences) > 1:
        problems.add(where, fences[1].line + 1, "second kb block in one entry: merge them into one")
    meta = _parse_meta(fences[0], where, problems) if fences else _Meta()
    skip = {n for f in fences for n in range(f.line, f.end)} | span.skip
    body = [lines[n] for n in range(span.start, span.stop) if n not in skip]
    if span.dedent:
        body = textwrap.dedent("\n".join(body)).split("\n")
    answer = "\n".join([span.lead, *body]).strip() if span.lead else "\n".join(body).strip()
    if not answer:
        if span.heading and fences:
            problems.add(where, line_no,
                         f"empty answer for '{span.title}': write the answer below it")
        else:
            problems.note(where, line_no, f"question '{span.title[:60]}' has no answer")
        return None
    values = meta.values
    entry_id = str(values.get("id") or _anchor_id(span.anchor) or slugify(span.title))
    if not values.get("id"):
        problems.generated.add((where, line_no))
    tags: tuple[str, ...] = tuple(values.get("tags", ()))  # type: ignore[arg-type]
    return Entry(
        id=entry_id,
        title=span.title,
        answer=answer,
        section=span.section,
        tags=tags + tuple(t for t in page_tags if t not in tags),
        questions=tuple(values.get("questions", ())),  # type: ignore[arg-type]
        signatures=tuple(values.get("signatures", ())),  # type: ignore[arg-type]
        examples=tuple(values.get("examples", ())),  # type: ignore[arg-type]
        see_also=tuple(values.get("see_also", ())),  # type: ignore[arg-type]
        source=Source(file=where, line=line_no),
        collection=collection,
        verified=str(values.get("verified", "")),
        context=context,
    )


def _anchor_id(anchor: str) -> str:
    """An id from an anchor the author gave (``{#run-android}``, ``name="config"``)."""
    if not anchor:
        return ""
    lowered = anchor.lower()
    return lowered if ID_RE.fullmatch(lowered) and len(lowered) <= 64 else slugify(anchor)


def _distinct_ids(entries: list[Entry], generated: set[tuple[str, int]]) -> list[Entry]:
    """Ids kb made (not given in a kb block) made distinct: a repeated question under another
    section gets the section's words in front (``macos-how-do-i-install-it``), then a number."""
    made = [(e.source.file, e.source.line) in generated for e in entries]
    seen = {e.id for e, m in zip(entries, made, strict=True) if not m}
    out = []
    for entry, was_made in zip(entries, made, strict=True):
        if was_made and entry.id in seen:
            new = slugify(f"{entry.section} {entry.title}", limit=80)
            n = 2
            while new in seen:
                new, n = f"{slugify(entry.section + ' ' + entry.title, limit=76)}-{n}", n + 1
            entry = entry.model_copy(update={"id": new})
        seen.add(entry.id)
        out.append(entry)
    return out


def _parse_meta(fence: Block, where: str, problems: _Problems) -> _Meta:
    meta = _Meta()
    current: str | None = None
    for offset, raw in enumerate(fence.content.splitlines()):
        line_no = fence.line + 2 + offset
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("- ") or stripped == "-":
            current = _list_item(meta, current, stripped[2:].strip(), line_no, where, problems)
            continue
        current = _key_line(meta, stripped, line_no, where, problems)
    return meta


def _key_line(meta: _Meta, text: str, line_no: int, where: str, problems: _Problems) -> str | None:
    key, sep, value = text.partition(":")
    key = key.strip()
    value = value.strip()
    if not sep or not re.fullmatch(r"[a-z_]+", key):
        problems.add(where, line_no, f"expected 'key: value' or '- item', got '{text[:60]}'")
        return None
    if key not in KNOWN_KEYS:
        known = ", ".join(sorted(KNOWN_KEYS))
        problems.add(where, line_no, f"unknown metadata key '{key}': use one of {known}")
        return None
    if key in meta.values:
        problems.add(where, line_no, f"metadata key '{key}' given twice: merge the two")
        return None
    meta.lines[key] = line_no
    if key in LIST_KEYS:
        meta.values[key] = []
        if value:
            problems.add(where, line_no, f"'{key}' is a list: put each item on its own '- ' line")
        return key
    if key == "id":
        if not ID_RE.fullmatch(value):
            problems.add(
                where, line_no, f"bad id '{value}': use lower-case letters, digits and '-' only"
            )
        meta.values["id"] = value
    elif key == "verified":
        if not value:
            problems.add(where, line_no, "'verified' is empty: say what the entry was checked "
                         "against (verified: httpd 2.4.71, OpenSSL 3.0.19)")
        meta.values["verified"] = value
    else:
        meta.values[key] = tuple(v.strip() for v in value.split(",") if v.strip())
        if key == "see_also":
            for ref in meta.values[key]:  # type: ignore[attr-defined]
                if not ID_RE.fullmatch(ref):
                    problems.add(where, line_no, f"bad id '{ref}' in see_also")
    return None


def _list_item(
    meta: _Meta, current: str | None, item: str, line_no: int, where: str, problems: _Problems
) -> str | None:
    if current is None:
        problems.add(
            where, line_no, "list item outside a list: put 'signatures:' (or ...) above it"
        )
        return None
    if not item:
        problems.add(where, line_no, f"empty item in '{current}'")
        return current
    if len(item) > MAX_ITEM:
        problems.add(where, line_no, f"item longer than {MAX_ITEM} characters: shorten it")
        return current
    bucket = meta.values[current]
    assert isinstance(bucket, list)  # noqa: S101 - set by _key_line for list keys
    if current == "signatures":
        signature = _signature(item, line_no, where, problems)
        if signature is not None:
            bucket.append(signature)
    else:
        bucket.append(item)
    return current


# Notes closing a signature, in any order: a version note ("- AH02559: ... @until httpd
# 2.4.15") and a peer note ("- ... @peer remote": see Signature.peer).
_NOTE = re.compile(r"\s+@(since|until|peer) (\S[^@]*)$")
PEERS = ("client", "remote")


def _signature(item: str, line_no: int, where: str, problems: _Problems) -> Signature | None:
    versions = peer = ""
    while (note := _NOTE.search(item)) is not None:
        item, name, value = item[: note.start()], note.group(1), note.group(2).strip()
        if name != "peer":
            versions = f"{name} {value}"
        elif value in PEERS:
            peer = value
        else:
            problems.add(where, line_no, f"unknown peer {value!r} in '@peer': write '@peer "
                         "client' ([client ...] lines) or '@peer remote' ([remote ...] lines)")
            return None
    notes = {"versions": versions, "peer": peer}
    if item.startswith("lit: "):
        text = item[5:].strip()
        return Signature(kind=SignatureKind.LITERAL, text=text, line=line_no, **notes)
    if not item.startswith("re: "):
        return Signature(kind=SignatureKind.LITERAL, text=item, line=line_no, **notes)
    pattern = item[4:].strip()
    try:
        check_pattern(pattern)
    except re.error as exc:
        col = (exc.pos or 0) + item.index(pattern) + 3
        problems.add(
            where,
            line_no,
            f"signature regex does not compile: {exc.msg}: fix the pattern, "
            "or write it without 're: ' to match it literally",
            col,
        )
        return None
    except RegexRejected as exc:
        problems.add(where, line_no, f"signature regex rejected: {exc}")
        return None
    except (OverflowError, ValueError) as exc:  # sizes re cannot represent, bad flag mixes
        problems.add(where, line_no, f"signature regex does not compile: {exc}: fix the pattern")
        return None
    return Signature(kind=SignatureKind.REGEX, text=pattern, line=line_no, **notes)


def _check_unique(entries: list[Entry], problems: _Problems) -> None:
    seen: dict[str, Entry] = {}
    for entry in entries:
        first = seen.get(entry.id)
        if first is not None:
            problems.add(
                entry.source.file,
                entry.source.line,
                f"duplicate id '{entry.id}' (first at {first.source}): give one of them "
                "another 'id:' in its kb block",
            )
        else:
            seen[entry.id] = entry
