#!/usr/bin/env python3
"""Coverage-guided fuzzing (atheris / libFuzzer) of search, diagnose and the compiler.

    python scripts/fuzz.py --target search|diagnose|compiler [libFuzzer flags] [CORPUS_DIR ...]
    python scripts/fuzz.py --target diagnose -max_total_time=60 -artifact_prefix=/tmp/kb-fuzz-

Each target feeds the fuzzer's bytes to the library the way a user's input arrives, and fails
(libFuzzer writes a ``crash-*`` file) when anything but a documented ``KbError`` escapes, or
when text that would reach a terminal holds a control character (escape sequences, C1, bidi
overrides). Without a CORPUS_DIR the run starts from built-in seeds (the shipped entries'
example lines, hostile lines, the test FAQ files) in a new temporary directory (left there;
libFuzzer ends the process); an empty CORPUS_DIR gets the same seeds. Defaults added
unless given: ``-timeout=10`` (an input that runs longer is a hang: a regex that backtracks)
and ``-rss_limit_mb=4096``. The index cache is a temporary directory unless KB_CACHE_DIR is set.
Needs ``pip install atheris`` (Linux and macOS wheels).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["kb", "frontends"]):
    from frontends.explain import explanation_lines
    from frontends.render import clean, dumps, hit_lines
    from frontends.report import brief_line
    from frontends.stub import unmatched_markdown
    from kb import ContentError, KnowledgeBase, QueryError
    from kb.compiler import compile_text
    from kb.diagnose import read_blocks
    from kb.lint import check_examples, check_references
    from kb.signals import Signals

Target = Callable[[bytes], None]
# What must never reach a terminal (frontends/render.py's contract).
FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE_SEEDS = [
    "[Tue Mar 05 10:12:01.123456 2024] [ssl:error] [pid 1:tid 2] [client 192.0.2.7:5] AH02039: "
    "Certificate Verification: Error (20): unable to get local issuer certificate",
    "SSL Library Error: error:0A0000C1:SSL routines::no shared cipher \x1b]52;c;ZXZpbA==\x07",
    "SSL_accept failed: ('SSL routines', 'ssl3_get_client_hello', 'no shared cipher')",
    "Mar  5 10:12:01 host httpd[42]: [SSL: WRONG_VERSION_NUMBER] wrong version number \x9b2J",
    "how do I remove the pass phrase \u202eevil\u202c dialog?",
]


def _terminal_safe(*texts: str) -> None:
    for text in texts:
        found = FORBIDDEN.search(text)
        if found is not None:
            raise AssertionError(f"control character {found.group()!r} reaches the terminal: "
                                 f"{text[max(0, found.start() - 40):found.start() + 20]!r}")


def _text(data: bytes) -> str:
    return atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(len(data))


def search_target(kb: KnowledgeBase) -> Target:
    """Search and explain one input; render it as the CLI would."""
    from kb import CONFIDENT

    def run(data: bytes) -> None:
        text = _text(data)
        try:
            query = kb.build_query(text)
        except QueryError:
            return
        hits = kb.run(query, limit=3)
        if any(not 0.0 <= h.confidence <= 1.0 for h in hits):
            raise AssertionError("confidence out of range")
        _terminal_safe(*hit_lines(hits, confident_at=CONFIDENT), *explanation_lines(query, hits))
        if not dumps([h.as_json() for h in hits] + [query.parsed.as_json()]).isascii():
            raise AssertionError("JSON output is not ASCII")

    return run


def diagnose_target(kb: KnowledgeBase) -> Target:
    """Diagnose the bytes as a log, cut into blocks at fuzzer-chosen places; render it."""

    def run(data: bytes) -> None:
        fdp = atheris.FuzzedDataProvider(data)
        blocks = []
        while fdp.remaining_bytes():
            blocks.append(fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 512)))
        diagnoser = kb.diagnoser(collect_unmatched=True)
        for text in read_blocks(iter(blocks)):
            diagnoser.feed_text(text)
        diagnoser.flush()
        result = diagnoser.result()
        for problem in result.problems:
            _terminal_safe(brief_line(problem), clean(problem.sample, keep_newlines=False),
                           clean(problem.template, keep_newlines=False))
            if not dumps(problem.as_json()).isascii():
                raise AssertionError("NDJSON output is not ASCII")
        _terminal_safe(unmatched_markdown(result))

    return run


def compiler_target() -> Target:
    """Compile the bytes as one Markdown file, then run the lint checks on what compiled."""

    def run(data: bytes) -> None:
        try:
            entries = compile_text(_text(data), name="fuzz.md")
        except ContentError as exc:
            if not all(p.startswith("fuzz.md:") for p in exc.problems):
                raise AssertionError(f"problem without file:line: {exc.problems}") from None
            return
        Signals(entries)
        check_references(entries)
        check_examples(entries)

    return run


def _seeds(target: str, folder: Path, kb: KnowledgeBase | None) -> None:
    if target == "compiler":
        files = sorted((ROOT / "tests" / "data").rglob("*.md"))
        files += sorted((ROOT / "content").rglob("*.md"))[:3]
        texts = [path.read_text(encoding="utf-8")[:6000] for path in files]
    else:
        entries = kb.entries() if kb is not None else []
        texts = [example for entry in entries for example in entry.examples][:200]
        texts += HOSTILE_SEEDS
        if target == "diagnose":
            texts = ["\n".join(texts[i:i + 8]) for i in range(0, len(texts), 8)]
    for number, text in enumerate(texts):
        (folder / f"seed-{number:04d}").write_bytes(text.encode("utf-8"))


def main() -> None:
    """Parse --target, keep every other argument for libFuzzer, and fuzz."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     usage="%(prog)s --target TARGET [libFuzzer flags] [CORPUS]")
    parser.add_argument("--target", required=True, choices=["search", "diagnose", "compiler"])
    args, rest = parser.parse_known_args()
    if "KB_CACHE_DIR" not in os.environ:
        os.environ["KB_CACHE_DIR"] = tempfile.mkdtemp(prefix="kb-fuzz-cache-")
    kb = None if args.target == "compiler" else KnowledgeBase.default()
    targets: dict[str, Callable[[], Target]] = {
        "search": lambda: search_target(kb),  # type: ignore[arg-type]
        "diagnose": lambda: diagnose_target(kb),  # type: ignore[arg-type]
        "compiler": compiler_target,
    }
    flags = [a for a in rest if a.startswith("-")]
    corpora = [a for a in rest if not a.startswith("-")]
    if not any(f.startswith("-timeout=") for f in flags):
        flags.append("-timeout=10")
    if not any(f.startswith("-rss_limit_mb=") for f in flags):
        flags.append("-rss_limit_mb=4096")
    if not corpora:
        corpora = [tempfile.mkdtemp(prefix=f"kb-fuzz-{args.target}-")]
    if Path(corpora[0]).is_dir() and not any(Path(corpora[0]).iterdir()):
        _seeds(args.target, Path(corpora[0]), kb)
    atheris.Setup([sys.argv[0], *flags, *corpora], targets[args.target]())
    atheris.Fuzz()


if __name__ == "__main__":
    main()
