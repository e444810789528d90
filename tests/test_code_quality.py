"""The one test command also runs the linters: ruff and mypy over code, scripts and tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["kb", "frontends", "scripts", "tests"]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def test_ruff() -> None:
    done = subprocess.run([_tool("ruff"), "check", *TARGETS], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    done = subprocess.run([_tool("mypy"), *TARGETS], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def _imports(path: Path) -> list[str]:
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def test_frontends_import_only_the_kb_package() -> None:
    """STYLE habit 1: the library's modules are its own business; frontends use ``kb``."""
    reaching = [f"{path.name}: {name}" for path in sorted((ROOT / "frontends").rglob("*.py"))
                for name in _imports(path) if name.startswith("kb.")]
    assert reaching == []


def test_the_library_reads_no_environment() -> None:
    """Configuration comes in as arguments (cache_dir ...): no os.environ deep inside."""
    readers = [str(path.relative_to(ROOT)) for path in sorted((ROOT / "kb").rglob("*.py"))
               if "environ" in path.read_text(encoding="utf-8")]
    assert readers == []


def test_the_cache_directory_is_injectable(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from kb import KnowledgeBase

    faq = tmp_path / "faq.md"
    faq.write_text("## Why?\n\nBecause.\n", encoding="utf-8")
    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path / "ignored"))
    kb = KnowledgeBase.from_paths([faq], cache_dir=tmp_path / "mine")
    assert Path(kb.index_location).parent == tmp_path / "mine"
    assert not (tmp_path / "ignored").exists()
