"""kb shell end to end: a real pseudo-terminal, 80x24, driven with pexpect."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parent.parent
STEPS = "\n".join(f"{n}. Step {n} of moving the port." for n in range(1, 41))
FAQ = f"""# About Configuration

## How do I serve HTTPS on another port?

Add `Listen 8443 https` and a matching `<VirtualHost *:8443>`.

{STEPS}

## Why does Apache say the key does not match the certificate?

The certificate and the key come from different requests.

## How do I remove the pass phrase from my private key?

Decrypt it once with `openssl pkey`.
"""
CPR_REQUEST = "\x1b[6n"  # prompt_toolkit asks where the cursor is; a terminal answers


def _expect(child: Any, pattern: str) -> None:  # a pexpect.spawn
    """Wait for ``pattern``, answering cursor-position requests as a terminal would."""
    while child.expect_exact([CPR_REQUEST, pattern]) == 0:
        child.send("\x1b[1;1R")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_shell_in_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "faq.md").write_text(FAQ, encoding="utf-8")
    env = dict(os.environ, TERM="xterm", KB_CACHE_DIR=str(tmp_path / "cache"),
               KB_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    env.pop("NO_COLOR", None)
    child = pexpect.spawn(
        sys.executable,
        ["-m", "frontends.cli", "shell", "--no-default", "--kb", str(tmp_path / "faq.md")],
        cwd=str(ROOT), env=env, dimensions=(24, 80), encoding="utf-8", timeout=30,
    )
    try:
        _expect(child, "3 entries · N: read")  # the bottom toolbar
        child.send("how do I serve https on another port\r")
        _expect(child, "1. How do I serve HTTPS on another port?")
        _expect(child, "kb>")
        child.send("1\r")
        _expect(child, "q: back")  # 60 steps do not fit in 24 lines: the pager opens
        child.send("q")
        _expect(child, "kb>")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert (tmp_path / "data" / "shell_history").read_text().count("serve https") == 1
