"""scripts/make_log.py, scripts/bench.py and examples/error.log: behaviour only, no timings."""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from frontends.cli import Env, main
from kb import KnowledgeBase
from kb.logline import parse_line

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "error.log"


def _script(name: str) -> ModuleType:
    """Import scripts/NAME.py as a module (scripts/ is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def make_log() -> ModuleType:
    return _script("make_log")


@pytest.fixture(scope="module")
def generated(make_log: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    out = tmp_path_factory.mktemp("log") / "error.log"
    assert make_log.main([str(out), "--lines", "2000", "--seed", "5"]) == 0
    return out.read_text(encoding="utf-8").splitlines()


def test_make_log_is_deterministic_for_a_seed(make_log: ModuleType, tmp_path: Path,
                                              generated: list[str]) -> None:
    again, other = tmp_path / "again.log", tmp_path / "other.log"
    make_log.main([str(again), "--lines", "2000", "--seed", "5"])
    make_log.main([str(other), "--lines", "2000", "--seed", "6"])
    assert again.read_text(encoding="utf-8").splitlines() == generated
    assert other.read_text(encoding="utf-8").splitlines() != generated


def test_make_log_writes_exactly_the_lines_asked_for(make_log: ModuleType) -> None:
    for n in (0, 1, 2, 3, 137):
        assert len(list(make_log.generate(n, seed=3))) == n


def test_every_generated_line_is_an_apache_24_line(generated: list[str]) -> None:
    assert len(generated) == 2000
    odd = [line for line in generated if parse_line(line).shapes != ["apache24"]]
    assert odd == []


def test_generated_times_never_go_back(generated: list[str]) -> None:
    from datetime import datetime

    times = [datetime.strptime(parse_line(line).fields["time"], "%a %b %d %H:%M:%S.%f %Y")
             for line in generated]
    assert times == sorted(times)


def test_a_few_percent_of_generated_lines_are_problems(generated: list[str],
                                                       shipped: KnowledgeBase) -> None:
    diagnosis = shipped.diagnose(generated)
    assert 0.01 * len(generated) <= diagnosis.matched_lines <= 0.10 * len(generated)
    assert len({p.entry.id for p in diagnosis.problems}) >= 5


def test_routine_lines_alone_are_no_problem(make_log: ModuleType, shipped: KnowledgeBase) -> None:
    routine = list(make_log.generate(3000, seed=9, ssl_share=0.0))
    assert shipped.diagnose(routine).problems == []


def test_problem_lines_come_from_the_faq_examples(make_log: ModuleType) -> None:
    templates = make_log.problem_templates(ROOT / "content")
    assert len(templates) >= 20
    assert all(t.level in {"emerg", "alert", "crit", "error", "warn", "notice", "info", "debug"}
               for t in templates)


def test_the_shipped_sample_is_what_make_log_sample_writes(make_log: ModuleType) -> None:
    assert SAMPLE.read_text(encoding="utf-8").splitlines() == make_log.sample()


def test_kb_diagnose_finds_the_problems_of_the_shipped_sample() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["diagnose", "--json", str(SAMPLE)], env=Env(stdout=out, stderr=err))
    items = [json.loads(line) for line in out.getvalue().splitlines()]
    ids = {item["id"] for item in items if item["type"] == "problem"}
    assert code == 1, err.getvalue()  # ExitCode.FOUND: problems found
    assert len(ids) >= 5
    assert {"port-443-in-use", "key-cert-match", "ssl-module-not-loaded",
            "no-shared-cipher", "name-based-vhosts"} <= ids
    assert items[-1]["type"] == "summary"


def test_bench_help_works(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _script("bench")
    with pytest.raises(SystemExit) as info:
        bench.main(["--help"])
    assert info.value.code == 0
    assert "--quick" in capsys.readouterr().out


def test_bench_own_log_is_counted_and_compressed_ones_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = _script("bench")
    plain, packed = tmp_path / "own.log", tmp_path / "own.log.gz"
    plain.write_bytes(b"one\ntwo\nthree")  # a last line without its newline counts
    packed.write_bytes(gzip.compress(b"one\n"))
    assert bench._line_count(plain) == 3
    assert bench._plain_file(plain) and not bench._plain_file(packed)
    assert not bench._plain_file(tmp_path / "missing.log")
    with pytest.raises(SystemExit) as info:
        bench.main(["--only", "diagnose", "--log", str(packed)])
    assert info.value.code == 2
    assert "not a plain-text log file" in capsys.readouterr().err


def test_bench_percentile_is_nearest_rank() -> None:
    bench = _script("bench")
    assert bench.percentile([5.0, 1.0, 3.0], 0.5) == 3.0
    assert bench.percentile([float(i) for i in range(101)], 0.99) == 99.0


def test_realistic_log_is_deterministic_and_varied(make_log: ModuleType, tmp_path: Path) -> None:
    out, again = tmp_path / "a.log", tmp_path / "b.log"
    assert make_log.main([str(out), "--realistic", "--lines", "3000", "--seed", "4"]) == 0
    make_log.main([str(again), "--realistic", "--lines", "3000", "--seed", "4"])
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines == again.read_text(encoding="utf-8").splitlines() and len(lines) == 3000
    modules = {parse_line(line).module for line in lines}
    assert {"ssl", "core", "proxy", "authz_core", "rewrite"} <= modules
    tls = [line for line in lines if "[ssl:" in line]
    assert 0.2 < len(tls) / len(lines) < 0.5
    assert any("2001:db8:" in line for line in lines)  # IPv6 clients


def test_realistic_templates_sweep_has_exactly_k_templates(make_log: ModuleType) -> None:
    lines = make_log.realistic_lines(600, seed=3, templates=150)
    assert len({parse_line(line).template for line in lines}) == 150
    assert len({parse_line(line).template for line in lines[:90]}) == 90


def test_partcost_reports_the_parts_and_the_merge(make_log: ModuleType, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    import gzip

    logs = []
    for seed in (1, 2):
        plain = tmp_path / f"web{seed}.log"
        assert make_log.main([str(plain), "--realistic", "--lines", "500", "--seed",
                              str(seed)]) == 0
        path = tmp_path / f"web{seed}.log.gz"
        with gzip.open(path, "wb") as handle:
            handle.write(plain.read_bytes())
        logs.append(str(path))
    assert _script("partcost").main(logs) == 0
    out = capsys.readouterr().out
    assert "2 part(s), 1,000 lines" in out
    assert "median 500 lines" in out and "1 merge(s) and finish" in out


def test_adversarial_runner_lists_the_144_review_cases_and_runs_one(tmp_path: Path) -> None:
    adversarial = _script("adversarial")
    assert len(adversarial.CASES) == 144
    sections = [case.section for case in adversarial.CASES]
    assert {s: sections.count(s) for s in "123456"} == {"1": 42, "2": 21, "3": 48, "4": 13,
                                                          "5": 8, "6": 12}
    out = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(out):
        code = adversarial.main(["--work", str(tmp_path), "--only", "hostile ids",
                                 "duplicate id"])
    assert code == 0 and out.getvalue().endswith("2 passed, 0 failed\n"), out.getvalue()
