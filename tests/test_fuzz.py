"""Fuzzing (issue 7): scripts/fuzz.py drives search, diagnose and the compiler with atheris.

The bounded runs are marked slow (``--run-slow`` or ``KB_RUN_SLOW=1``); ``KB_FUZZ_SECONDS``
sets the time per target (default 8, so about 30 s for the three; CI runs them on every
change). A short deterministic smoke run of each target keeps the script working in the
ordinary suite. Everything is skipped when atheris is not installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "scripts" / "fuzz.py"
TARGETS = ["search", "diagnose", "compiler"]


def _fuzz(
    target: str, tmp_path: Path, *flags: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KB_CACHE_DIR": str(tmp_path / "cache")}
    corpus = tmp_path / "corpus"
    corpus.mkdir()  # empty: the script puts its seeds here
    return subprocess.run(
        [sys.executable, str(FUZZ), "--target", target, f"-artifact_prefix={tmp_path}/", *flags,
         str(corpus)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path,
    )


def _explain(done: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-"))]
    return f"exit {done.returncode}, artifacts {crashes}:\n{done.stderr[-3000:]}"


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_smoke(target: str, tmp_path: Path) -> None:
    done = _fuzz(target, tmp_path, "-seed=1", "-runs=40", timeout=120)
    assert done.returncode == 0, _explain(done, tmp_path)
    assert re.search(r"^Done \d+ runs", done.stderr, re.M)


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz(target: str, tmp_path: Path) -> None:
    seconds = int(os.environ.get("KB_FUZZ_SECONDS", "8"))
    done = _fuzz(target, tmp_path, f"-max_total_time={seconds}", timeout=seconds * 3 + 120)
    assert done.returncode == 0, _explain(done, tmp_path)
    assert re.search(r"^Done \d+ runs", done.stderr, re.M)
