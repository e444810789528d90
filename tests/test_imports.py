"""What each command may import (issue 17): a process pays only for what its command uses.

Each command runs in a fresh interpreter on a warm index cache, then lists ``sys.modules``.
`kb --version` and `kb --help` load nothing of the library; a search, show, explain or a
diagnose (of an empty file or of a log with problems) never imports pydantic (the API's models
are built only when asked for), whoosh beyond its stemmer, the Markdown parser, rich (not on
a terminal), the REPL or the other commands' modules.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUERY = "AH02565: Certificate and private key do not match"

# What no warm command that answers from the index may import.
HEAVY = ("pydantic", "pydantic_core", "annotated_types", "markdown_it", "rich",
         "prompt_toolkit", "whoosh.index", "whoosh.searching", "whoosh.analysis",
         "whoosh.fields", "whoosh.writing", "whoosh.util", "kb.model", "kb.compiler",
         "kb.lint", "frontends.shell", "frontends.api", "frontends.mcp_server", "starlette",
         "uvicorn", "mcp")
# ... and what only the log pipe may add to that.
NOT_FOR_SEARCH = ("kb.diagnose", "frontends.logpipe", "gzip")

CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "search": (["search", QUERY], HEAVY + NOT_FOR_SEARCH),
    "search --json": (["search", "--json", QUERY], HEAVY + NOT_FOR_SEARCH),
    # (A question without a confident answer goes to the semantic extra when it is
    # installed: that one may import what it likes.)
    "search, no hit": (["--no-semantic", "search", "zzzqqq"], HEAVY + NOT_FOR_SEARCH),
    "show": (["show", "no-shared-cipher"], HEAVY + NOT_FOR_SEARCH),
    "explain": (["explain", QUERY], HEAVY + NOT_FOR_SEARCH),
    "diagnose, empty file": (["diagnose", "--json", "{empty}"], HEAVY),
    # A log with problems: the report reads the entries' plain records, as a search does.
    "diagnose, the sample log": (["diagnose", "{sample}"], HEAVY),
    "diagnose --json, the sample log": (["diagnose", "--json", "{sample}"], HEAVY),
}

_CODE = """
import contextlib, io, sys
from frontends.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
print("\\n".join(sorted(sys.modules)))
"""


def _modules(argv: list[str], cache: Path) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KB_CACHE_DIR": str(cache)}
    env.pop("KB_PATH", None)
    done = subprocess.run([sys.executable, "-c", _CODE, *argv], env=env, capture_output=True,
                          text=True, check=True, cwd=cache.parent, timeout=120)
    return set(done.stdout.split())


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("imports") / "cache"
    _modules(["search", QUERY], cache)  # builds the index
    return cache


def _offending(loaded: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(m for m in loaded if any(m == b or m.startswith(b + ".") for b in banned))


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_nothing_of_the_library(flag: str, warm: Path) -> None:
    loaded = _modules([flag], warm)
    assert "frontends.cli" in loaded
    assert sorted(m for m in loaded if m.startswith("kb.")) == []
    assert _offending(loaded, ("typing", "dataclasses", "inspect", "re2", "whoosh")) == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_warm_command_imports_only_what_it_uses(case: str, warm: Path) -> None:
    argv, banned = CASES[case]
    empty = warm.parent / "empty.log"
    empty.write_text("", encoding="utf-8")
    sample = str(ROOT / "examples" / "error.log")
    loaded = _modules([a.replace("{empty}", str(empty)).replace("{sample}", sample)
                       for a in argv], warm)
    assert "kb.knowledgebase" in loaded and "kb.records" in loaded
    assert _offending(loaded, banned) == []
