"""docs/trust.md names the test that keeps each promise: every test it names exists (issue 18),
and the README's "What kb trusts" links to that list."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMED = re.compile(r"`(?:(test_\w+\.py))?(?:::(test_[\w*]+))?`")


def _tests_of(path: Path) -> set[str]:
    return set(re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(encoding="utf-8"),
                          re.MULTILINE))


def test_every_test_named_in_trust_md_exists() -> None:
    text = (ROOT / "docs" / "trust.md").read_text(encoding="utf-8")
    table = text[text.index("## Promises and their tests"):]
    checked = 0
    for row in table.splitlines():
        if not row.startswith("| ") or row.startswith(("| promise", "| ---")):
            continue
        current = None
        for module, name in NAMED.findall(row.split(" | ", 1)[1]):
            if module:
                assert (ROOT / "tests" / module).is_file(), module
                current = module
            if name:
                assert current is not None, row
                found = fnmatch.filter(_tests_of(ROOT / "tests" / current), name)
                assert found, f"{current}::{name} (docs/trust.md) is no test"
                checked += 1
    assert checked >= 30


def test_readme_trust_section_links_the_list() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## What kb trusts"):]
    section = section[: section.index("\n## ", 4)]
    assert "docs/trust.md#promises-and-their-tests" in section
    for promise in ("RE2", "last good index", "escapes", "0700", "KB_HISTORY=0"):
        assert promise in section, promise
