"""Shared fixtures: an isolated index cache, the shipped KB, and the --update-golden switch."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kb import KnowledgeBase

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files")
    parser.addoption("--run-slow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # CI (which sets CI=true) runs the slow tests too: the bounded fuzzing of issue 7.
    if config.getoption("--run-slow") or os.environ.get("KB_RUN_SLOW") or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="slow: use --run-slow, KB_RUN_SLOW=1 or CI=true")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test run gets its own index cache and data directory, never the user's: the CLI
    reads KB_CACHE_DIR; the library, which reads no environment, uses platformdirs' per-user
    cache, which follows XDG_CACHE_HOME."""
    names = ("KB_CACHE_DIR", "KB_DATA_DIR", "KB_PATH", "XDG_CACHE_HOME")
    old = {k: os.environ.get(k) for k in names}
    xdg = tmp_path_factory.mktemp("xdg")
    os.environ["XDG_CACHE_HOME"] = str(xdg)
    os.environ["KB_CACHE_DIR"] = str(xdg / "kb")
    os.environ["KB_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    os.environ.pop("KB_PATH", None)
    yield
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def shipped() -> KnowledgeBase:
    """The shipped mod_ssl knowledge base, ranked by kb alone (the default install's ranking:
    the golden file and the eval gates pin it; tests/test_semantic.py covers the extra)."""
    return KnowledgeBase.default(cache_dir=os.environ["KB_CACHE_DIR"], semantic=False)


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty index cache for one test (for the CLI and for the library's default)."""
    (tmp_path / "xdg").mkdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = tmp_path / "xdg" / "kb"
    monkeypatch.setenv("KB_CACHE_DIR", str(path))
    return path


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Any:
    """Compare data with tests/golden/NAME.json (rewrite it with --update-golden)."""

    def check(name: str, data: Any) -> None:
        path = GOLDEN / f"{name}.json"
        text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        if request.config.getoption("--update-golden") or not path.exists():
            if not request.config.getoption("--update-golden") and os.environ.get("CI"):
                pytest.fail(f"golden file {path.name} missing: run pytest --update-golden")
            path.write_text(text, encoding="utf-8")
            return
        assert text == path.read_text(encoding="utf-8"), f"differs from {path}; --update-golden"

    return check
