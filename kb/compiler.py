"""FAQ Markdown -> entries, through markdown-it-py's token stream (which keeps line numbers).

The format is documented in docs/content-format.md. Every problem is reported as
``file:line: what is wrong: what to do`` and all problems of a run are collected before raising,
so one ``kb lint`` shows everything that needs fixing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import ContentError
from kb.files import markdown_files
from kb.model import ID_RE, Entry, Signature, SignatureKind, Source
from kb.regexguard import RegexRejected, check_pattern

if TYPE_CHECKING:
    from markdown_it.token import Token

META_INFO = "kb"
LIST_KEYS = frozenset({"signatures", "examples", "questions"})
COMMA_KEYS = frozenset({"tags", "see_also"})
SCALAR_KEYS = frozenset({"id", "verified"})
KNOWN_KEYS = LIST_KEYS | COMMA_KEYS | SCALAR_KEYS
MAX_ITEM = 4000


@dataclass
class _Heading:
    level: int
    title: str
    line: int  # 0-based first line
    end: int  # 0-based line after the heading
    followed_by_text: bool = False


@dataclass
class _Fence:
    info: str
    content: str
    line: int  # 0-based line of the opening fence
    end: int  # 0-based line after the closing fence


@dataclass
class _Meta:
    values: dict[str, object] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)


class _Problems:
    """Collects ``file:line: message`` strings."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, line: int, message: str, col: int | None = None) -> None:
        at = f"{line}:{col}" if col is not None else str(line)
        self.items.append(f"{where}:{at}: {message}")


def slugify(text: str, limit: int = 64) -> str:
    """An id from a question: ascii, lower case, words joined by '-', cut at a word boundary."""
    import unicodedata  # only when an id is made from a title (never on a warm start)

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
    problems = _Problems()
    entries: list[Entry] = []
    for path in markdown_files(paths):
        entries.extend(_compile_file(path, problems, collection or path.parent.name))
    _check_unique(entries, problems)
    if problems.items:
        raise ContentError(problems.items)
    return entries


def compile_text(text: str, name: str = "<text>", collection: str = "") -> list[Entry]:
    """Compile one Markdown document given as text."""
    problems = _Problems()
    entries = _compile_source(text, name, Path(name).stem, problems, collection)
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
    from markdown_it import MarkdownIt  # imported here: a warm start never parses Markdown

    headings, fences = _blocks(MarkdownIt("commonmark").parse(text))
    level = _question_level(headings, fences)
    if level is None:
        return []
    entries = []
    for heading, start, stop, section in _entry_spans(headings, level, len(lines), stem):
        own = [f for f in fences if start <= f.line < stop and f.info == META_INFO]
        entry = _entry(heading, lines, start, stop, own, section, where, problems, collection)
        if entry is not None:
            entries.append(entry)
    return entries


def _blocks(tokens: list[Token]) -> tuple[list[_Heading], list[_Fence]]:
    headings: list[_Heading] = []
    fences: list[_Fence] = []
    for i, tok in enumerate(tokens):
        if tok.level != 0 or tok.map is None:
            continue
        if tok.type == "heading_open":
            title = tokens[i + 1].content.strip()
            headings.append(_Heading(int(tok.tag[1]), title, tok.map[0], tok.map[1]))
        elif tok.type.endswith("_open") or tok.type in {"fence", "code_block", "html_block", "hr"}:
            if headings:
                headings[-1].followed_by_text = True
            if tok.type == "fence":
                info = tok.info.strip().split(maxsplit=1)[0] if tok.info.strip() else ""
                fences.append(_Fence(info, tok.content, tok.map[0], tok.map[1]))
    return headings, fences


def _question_level(headings: list[_Heading], fences: list[_Fence]) -> int | None:
    """The heading level that holds questions (see docs/content-format.md)."""
    meta_levels = []
    for fence in fences:
        if fence.info == META_INFO:
            owner = [h for h in headings if h.line < fence.line]
            if owner:
                meta_levels.append(owner[-1].level)
    if meta_levels:
        return min(meta_levels)
    counts = Counter(h.level for h in headings if h.followed_by_text)
    if not counts:
        return None
    best = max(counts.values())
    return min(level for level, n in counts.items() if n == best)


def _entry_spans(
    headings: list[_Heading], level: int, n_lines: int, stem: str
) -> Iterator[tuple[_Heading, int, int, str]]:
    """(question heading, body start, body stop, section) for each question heading."""
    sections: dict[int, str] = {}
    default_section = stem.replace("_", " ").replace("-", " ").title()
    for i, heading in enumerate(headings):
        if heading.level < level:
            sections = {k: v for k, v in sections.items() if k < heading.level}
            sections[heading.level] = heading.title
            continue
        if heading.level > level:
            continue
        stop = next((h.line for h in headings[i + 1 :] if h.level <= level), n_lines)
        section = sections[max(sections)] if sections else default_section
        yield heading, heading.end, stop, section


def _entry(
    heading: _Heading,
    lines: list[str],
    start: int,
    stop: int,
    fences: list[_Fence],
    section: str,
    where: str,
    problems: _Problems,
    collection: str,
) -> Entry | None:
    line_no = heading.line + 1
    if not heading.title:
        problems.add(where, line_no, "empty heading: write the question after the #")
        return None
    if len(fences) > 1:
        problems.add(where, fences[1].line + 1, "second kb block in one entry: merge them into one")
    meta = _parse_meta(fences[0], where, problems) if fences else _Meta()
    skip = {n for f in fences for n in range(f.line, f.end)}
    answer = "\n".join(lines[n] for n in range(start, stop) if n not in skip).strip()
    if not answer:
        problems.add(
            where, line_no, f"empty answer for '{heading.title}': write the answer below it"
        )
        return None
    values = meta.values
    entry_id = str(values.get("id") or slugify(heading.title))
    return Entry(
        id=entry_id,
        title=heading.title,
        answer=answer,
        section=section,
        tags=tuple(values.get("tags", ())),  # type: ignore[arg-type]
        questions=tuple(values.get("questions", ())),  # type: ignore[arg-type]
        signatures=tuple(values.get("signatures", ())),  # type: ignore[arg-type]
        examples=tuple(values.get("examples", ())),  # type: ignore[arg-type]
        see_also=tuple(values.get("see_also", ())),  # type: ignore[arg-type]
        source=Source(file=where, line=line_no),
        collection=collection,
        verified=str(values.get("verified", "")),
    )


def _parse_meta(fence: _Fence, where: str, problems: _Problems) -> _Meta:
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


# A version note closing a signature: "- AH02559: ... @until httpd 2.4.15".
_VERSIONS = re.compile(r"\s+@((?:since|until) \S[^@]*)$")


def _signature(item: str, line_no: int, where: str, problems: _Problems) -> Signature | None:
    versions = ""
    note = _VERSIONS.search(item)
    if note is not None:
        item, versions = item[: note.start()], note.group(1).strip()
    if item.startswith("lit: "):
        text = item[5:].strip()
        return Signature(kind=SignatureKind.LITERAL, text=text, line=line_no, versions=versions)
    if not item.startswith("re: "):
        return Signature(kind=SignatureKind.LITERAL, text=item, line=line_no, versions=versions)
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
    return Signature(kind=SignatureKind.REGEX, text=pattern, line=line_no, versions=versions)


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
