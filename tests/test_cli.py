"""CLI in-process (Env with StringIO), exit codes, help, and one real subprocess run."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from frontends.cli import Env, ExitCode, build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str, stdin: str = "", environ: dict[str, str] | None = None) -> tuple[int, str, str]:
    env = Env(stdin=io.StringIO(stdin), stdout=io.StringIO(), stderr=io.StringIO(),
              environ={**os.environ, **(environ or {})}, stdout_isatty=False)
    code = main(list(argv), env)
    return code, env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def test_search_json() -> None:
    code, out, _ = run("search", "--json", "pass phrase at startup")
    data = json.loads(out)
    assert code == ExitCode.OK and data["query"] == "pass phrase at startup"
    assert {"id", "title", "score", "confidence", "why", "answer"} <= set(data["hits"][0])


def test_search_text_lists_numbered_hits() -> None:
    code, out, _ = run("search", "-n", "2", "error:0A0000C1:SSL routines::no shared cipher")
    assert code == ExitCode.OK
    assert out.startswith("1. ") and "id: no-shared-cipher" in out and "\n2. " in out


def test_search_reads_stdin() -> None:
    code, out, _ = run("search", "--json", "-", stdin="AH02565: Certificate and private key x")
    assert json.loads(out)["hits"][0]["id"] == "key-cert-match"


def test_empty_query_is_a_usage_error() -> None:
    code, _, err = run("search", "  ")
    assert code == ExitCode.USAGE and err.startswith("kb: error: empty query")


def test_show_raw_and_unknown_id() -> None:
    code, out, _ = run("show", "remove-passphrase-dialog")
    assert code == ExitCode.OK and out.startswith("# ")
    code, _, err = run("show", "no-such-entry")
    assert code == ExitCode.UNKNOWN_ID and err.startswith("kb: error: no entry with id")
    assert "Traceback" not in err


def test_explain_shows_parse_query_and_contributions() -> None:
    code, out, _ = run("explain", "[Tue Mar 05 10:12:01.123456 2024] [ssl:error] [pid 1:tid 2] "
                       "AH02565: Certificate and private key x from y and z do not match")
    assert code == ExitCode.OK
    for needle in ("shapes=apache24", "codes: AH02565", "template:", "query: terms=",
                   "1. key-cert-match", "signature:"):
        assert needle in out


def test_explain_works_on_every_example(shipped: object) -> None:
    from kb import KnowledgeBase

    assert isinstance(shipped, KnowledgeBase)
    for entry in shipped.entries():
        for example in entry.examples:
            assert run("explain", "--json", example)[0] == ExitCode.OK


def test_lint_ok_and_problems(tmp_path: Path) -> None:
    code, out, _ = run("lint", str(ROOT / "content"))
    assert code == ExitCode.OK and out.startswith("ok: ")
    bad = tmp_path / "bad.md"
    bad.write_text("# S\n\n## Q?\n\nA\n\n```kb\nsignatures:\n- re: (\n```\n", encoding="utf-8")
    code, out, _ = run("lint", str(bad))
    assert code == ExitCode.FOUND and out.startswith(f"{bad}:9:")


def test_broken_content_is_a_content_error(tmp_path: Path, cache_dir: Path) -> None:
    (tmp_path / "x.md").write_bytes(b"# S\n\n## Q\xff?\n\nA\n")
    code, _, err = run("--no-default", "--kb", str(tmp_path), "search", "q")
    assert code == ExitCode.CONTENT and "x.md:3: not UTF-8" in err


def test_kb_path_and_no_default(tmp_path: Path, cache_dir: Path) -> None:
    (tmp_path / "w.md").write_text("# S\n\n## How do I frobnicate widgets?\n\nGently.\n")
    code, out, _ = run("--no-default", "search", "--json", "frobnicate",
                       environ={"KB_PATH": str(tmp_path)})
    assert [h["id"] for h in json.loads(out)["hits"]] == ["how-do-i-frobnicate-widgets"]
    code, out, _ = run("--kb", str(tmp_path), "search", "--json", "-n", "1", "frobnicate widgets")
    assert json.loads(out)["hits"][0]["id"] == "how-do-i-frobnicate-widgets"


def test_every_command_has_help_and_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    for name, sub in commands.choices.items():  # type: ignore[union-attr]
        assert sub.description, name
        assert f"kb {name}" in readme, name


def test_version_and_traceback_flag() -> None:
    code, _, _ = run("--version")
    assert code == ExitCode.OK
    code, _, err = run("show", "nope", "--traceback")
    assert "Traceback" in err


def test_end_to_end_installed_command(tmp_path: Path) -> None:
    """The real console entry point in a subprocess, from another directory."""
    env = {**os.environ, "KB_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run([sys.executable, "-m", "frontends.cli", "search", "--json",
                           "no shared cipher"], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["hits"][0]["id"] == "no-shared-cipher"


@pytest.mark.parametrize("argv", [["search"], ["bogus"], ["search", "-n", "0", "x"]])
def test_usage_errors(argv: list[str]) -> None:
    code, _, err = run(*argv)
    assert code == ExitCode.USAGE and err.startswith("kb: error:")


# What each command may import: tests/test_imports.py.
