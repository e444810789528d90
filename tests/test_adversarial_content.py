"""Adversarial round 2 (issue 18), hostile content: F6 (deeply nested regexes) and F8 (10^5
entries compile in linear time) of ../shared/reviews/reliability-review.md. The 10^4 vs 10^5
measurement is marked slow; a 1,000 vs 8,000 ratio runs always.
"""

from __future__ import annotations

import gc
import io
import os
import time
from pathlib import Path

import pytest

from frontends.cli import Env, ExitCode, main
from kb import lint_paths
from kb.compiler import compile_text
from kb.regexguard import MAX_NESTING, RegexRejected, check_pattern, compile_pattern, nesting


def cli(*argv: str) -> tuple[int, str, str]:
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(),
              environ={"NO_COLOR": "1", "KB_CACHE_DIR": os.environ["KB_CACHE_DIR"]},
              stdout_isatty=False, stdin_isatty=False)
    code = main(list(argv), env)
    return int(code), env.stdout.getvalue(), env.stderr.getvalue()  # type: ignore[attr-defined]


def nested_faq(folder: Path, depth: int) -> Path:
    """The reviewer's rx3/rx4: one entry whose regex nests ``depth`` groups."""
    folder.mkdir()
    pattern = "(" * depth + "AH02039" + ")" * depth
    (folder / "a.md").write_text(
        "# Nest\n\n## Why does AH02039 nest?\n\nBecause it does.\n\n```kb\nid: nest\n"
        f"signatures:\n- re: {pattern}\nexamples:\n- AH02039 happened\n```\n", encoding="utf-8")
    return folder


@pytest.mark.parametrize("depth", [490, 499])
def test_f6_lint_refuses_a_deeply_nested_regex_with_file_and_line(depth: int,
                                                                  tmp_path: Path) -> None:
    folder = nested_faq(tmp_path / "rx", depth)
    code, out, err = cli("lint", str(folder))
    assert code == ExitCode.FOUND  # lint: problems found
    assert "a.md:10: signature regex rejected: " in out  # 499 deep is also > 1000 chars
    assert depth > 490 or "groups nested 490 deep (at most 100)" in out
    assert "RecursionError" not in out + err


@pytest.mark.parametrize("depth", [490, 499])
def test_f6_loading_a_nested_regex_skips_the_collection(depth: int, tmp_path: Path,
                                                        cache_dir: Path) -> None:
    folder = nested_faq(tmp_path / "rx", depth)
    for command in (["search", "AH02565 key do not match"], ["show", "key-cert-match"]):
        code, out, err = cli("--kb", str(folder), *command)
        assert code == ExitCode.OK, err
        assert "skipped" in err and "RecursionError" not in err
        assert "key-cert-match" in out or "private key" in out


def test_f6_nesting_counts_groups_not_escapes_or_classes() -> None:
    assert nesting(r"((a)(b))") == 2
    assert nesting(r"\(\(\(x\)") == 0
    assert nesting(r"[(((]x[]((]") == 0
    assert nesting(r"[^](]((y))") == 2
    deep = "(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1)
    with pytest.raises(RegexRejected, match="nested"):
        check_pattern(deep)
    ok = "(" * MAX_NESTING + "x" + ")" * MAX_NESTING
    assert compile_pattern(ok).search("x")


def big_faq(n: int, signatures: int = 1) -> str:
    """``n`` entries in one file, each a section with its answer and a kb block with
    ``signatures`` literal signatures."""
    parts = ["# Big\n"]
    for i in range(n):
        more = "".join(f"- widget{i} exploded badly on {j}\n" for j in range(1, signatures))
        parts.append(f"## How do I fix widget {i} failing?\n\nRestart widget {i} and check "
                     f"its gadget{i} setting.\n\n```kb\nid: widget-{i}\nsignatures:\n"
                     f"- widget{i} exploded badly\n{more}examples:\n- widget{i} exploded "
                     "badly at noon\n```\n")
    return "\n".join(parts)


def compile_seconds(n: int, rounds: int = 2) -> float:
    """Best time of ``rounds`` compiles of ``n`` entries, the garbage collector off while
    timed (its full passes cost in proportion to the whole process's heap, not the
    compiler's work). In one full CI run 8x the entries took 22x the time, where alone they
    take 5-14x; the cause was not found, the collector is one thing that varies."""
    text = big_faq(n)
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            entries = compile_text(text, "big.md")
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
        assert len(entries) == n
    return best


def test_f8_compile_time_grows_linearly() -> None:
    """8x the entries must cost well under 64x (quadratic) the time: 1,000 entries took 0.2 s
    and 8,000 took 8 s before (the answer end and context scans over every later heading)."""
    small, large = compile_seconds(1_000, rounds=3), compile_seconds(8_000, rounds=3)
    assert large / small < 20, (small, large)


@pytest.mark.slow
def test_f8_compile_of_10_5_entries_is_linear() -> None:
    small, large = compile_seconds(10_000, rounds=1), compile_seconds(100_000, rounds=1)
    assert large / small < 20, (small, large)


def test_f8_lint_of_a_big_file_reports_nothing(tmp_path: Path) -> None:
    path = tmp_path / "big.md"
    path.write_text(big_faq(3_000), encoding="utf-8")
    assert lint_paths([path]) == []


@pytest.mark.slow
def test_f8_diagnose_over_10_5_literal_signatures(tmp_path: Path, cache_dir: Path) -> None:
    """Over 70,000-85,000 literals the RE2 prefilter of one pattern failed to compile
    ('pattern too large') and every diagnose ended at exit 5. 10^5 literal signatures, ten
    on each of 10^4 entries (building the index of 10^5 entries took 30 s of this test's
    32; test_f8_compile_of_10_5_entries_is_linear covers that size)."""
    folder = tmp_path / "big"
    folder.mkdir()
    for part in range(10):
        text = big_faq(1_000, signatures=10).replace("widget", f"w{part}x")
        (folder / f"f{part}.md").write_text(text, encoding="utf-8")
    code, out, err = cli("--no-default", "--kb", str(folder), "diagnose", "--json", "-")
    assert code == 0, err  # (an empty stdin: loads and builds the scanners)
    log = tmp_path / "w.log"
    log.write_text("[core:error] w7x77 exploded badly at noon\n", encoding="utf-8")
    code, out, err = cli("--no-default", "--kb", str(folder), "diagnose", "--json", str(log))
    assert code == 1 and '"id": "w7x-77"' in out, err
    assert "pattern too large" not in err
