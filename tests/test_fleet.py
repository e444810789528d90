"""Fleet diagnose (kb.fleet, kb.dask, kb diagnose -j/--dask/--by-host): a diagnosis is a
mergeable summary, and every way of cutting the work gives what one sequential read gives."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import KnowledgeBase, fleet
from kb.diagnose import Diagnosis

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "tests" / "data" / "lab" / "error.log"
SAMPLE = ROOT / "examples" / "error.log"
sys.path.insert(0, str(ROOT / "scripts"))

import make_log  # noqa: E402  (scripts/ is not a package)
import realistic_log  # noqa: E402


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real and generated logs: the lab server's (episodes, failed starts, several processes),
    the shipped sample, a generated busy server and a log with production variety."""
    folder = tmp_path_factory.mktemp("fleet")
    files = {"lab": LAB, "sample": SAMPLE}
    made = {"busy": list(make_log.generate(3000, seed=3)),
            "varied": list(realistic_log.realistic(3000, 5))}
    for name, lines in made.items():
        path = folder / f"{name}.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        files[name] = path
    mixed = folder / "mixed.log"  # one file with all of them in a row
    mixed.write_bytes(b"".join(files[n].read_bytes() for n in ("lab", "busy", "varied")))
    files["mixed"] = mixed
    return files


def _whole(kb: KnowledgeBase, path: Path, source: str = "", unmatched: bool = True
           ) -> Diagnosis:
    options = fleet.Options(collect_unmatched=unmatched)
    return fleet.diagnose_part(kb, fleet.Part(str(path), source or str(path)), options).diagnosis


def _line_starts(path: Path) -> list[int]:
    data = path.read_bytes()
    starts = [0]
    at = data.find(b"\n")
    while at >= 0 and at + 1 < len(data):
        starts.append(at + 1)
        at = data.find(b"\n", at + 1)
    return starts


def _ranges(path: Path, cuts: list[int]) -> list[fleet.Part]:
    bounds = [0, *cuts]
    ends: list[int | None] = [*cuts, None]
    return [fleet.Part(str(path), str(path), i, start, end)
            for i, (start, end) in enumerate(zip(bounds, ends, strict=True))]


def _in_parts(kb: KnowledgeBase, parts: list[fleet.Part]) -> Diagnosis:
    options = fleet.Options(collect_unmatched=True)
    results = [fleet.diagnose_part(kb, part, options) for part in parts]
    return fleet.combine(reversed(results))  # combine orders the parts itself


# -- the merge ------------------------------------------------------------------------------


def test_merge_is_associative_and_commutative(shipped: KnowledgeBase,
                                              logs: dict[str, Path]) -> None:
    a, b, c, d = (_whole(shipped, logs[n]) for n in ("lab", "sample", "busy", "varied"))
    assert a + b == b + a
    assert (a + b) + c == a + (b + c)
    assert ((a + b) + (c + d)) == (d + (c + (b + a)))
    assert (a + b).lines == a.lines + b.lines


def test_problems_carry_their_hosts(shipped: KnowledgeBase, logs: dict[str, Path]) -> None:
    """Each problem says where it was first and last seen and how often on each source."""
    merged = _whole(shipped, logs["lab"], "web01") + _whole(shipped, logs["lab"], "web02") \
        + _whole(shipped, logs["busy"], "web03")
    alone = _whole(shipped, logs["lab"], "web01")
    by_entry = {(p.entry.id, p.template): p for p in merged.problems}
    for problem in alone.problems:
        both = by_entry[(problem.entry.id, problem.template)]
        assert both.hosts.get("web01") == both.hosts.get("web02") == problem.count
        assert both.count == sum(both.hosts.values())
        assert {both.source, both.last_source} <= set(both.hosts)
        if "web03" not in both.hosts:  # the same times on both: the first by name, then last
            assert (both.source, both.last_source) == ("web01", "web02")
    assert any("web03" in p.hosts for p in merged.problems)


# -- cutting a log into ranges --------------------------------------------------------------


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_cut_points_give_the_whole_diagnosis(shipped: KnowledgeBase,
                                                 logs: dict[str, Path],
                                                 data: st.DataObject) -> None:
    """Splitting a log at any line boundaries, diagnosing each range (kb.fleet.diagnose_part)
    and combining equals diagnosing the whole: problems, counts, first and last lines,
    samples, variants, unmatched templates and counters."""
    name = data.draw(st.sampled_from(["lab", "mixed"]))
    path = logs[name]
    starts = _line_starts(path)
    cuts = sorted(set(data.draw(st.lists(st.sampled_from(starts[1:]), min_size=1, max_size=5))))
    if name not in _WHOLE:
        _WHOLE[name] = _whole(shipped, path)
    assert _in_parts(shipped, _ranges(path, cuts)) == _WHOLE[name]


_WHOLE: dict[str, Diagnosis] = {}


def test_a_range_reads_back_only_so_far(shipped: KnowledgeBase, logs: dict[str, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ranges far into a file warm up on the last LOOKBACK bytes only (a line start after
    them), and still count what the whole file counts."""
    path = logs["mixed"]
    monkeypatch.setattr(fleet, "LOOKBACK", 128 << 10)
    size = path.stat().st_size
    assert size > 4 * fleet.LOOKBACK
    parts = fleet.plan([path], 7, split_above=0)
    assert len(parts) == 7 and parts[-1].start > fleet.LOOKBACK
    assert _in_parts(shipped, parts) == _whole(shipped, path)


def test_a_last_line_without_its_newline_is_the_last_range_s(shipped: KnowledgeBase,
                                                            logs: dict[str, Path],
                                                            tmp_path: Path) -> None:
    """A file that ends in the middle of a line (no newline after its last one): in ranges,
    as read whole, that line counts and its problem is reported."""
    problem = next(line for line in SAMPLE.read_text(encoding="utf-8").splitlines()
                   if "AH02565" in line)
    path = tmp_path / "unterminated.log"
    path.write_bytes(logs["lab"].read_bytes() + problem.encode())
    whole = _whole(shipped, path)
    assert whole.lines == len(logs["lab"].read_bytes().splitlines()) + 1
    def counted(diagnosis: Diagnosis) -> int:
        return sum(p.count for p in diagnosis.problems if p.entry.id == "key-cert-match")

    assert counted(whole) == counted(_whole(shipped, logs["lab"])) + 1
    starts = _line_starts(path)
    for cuts in ([starts[-1]], [starts[len(starts) // 2]], starts[1::40]):
        assert _in_parts(shipped, _ranges(path, cuts)) == whole


def test_plan_cuts_big_plain_files_only(logs: dict[str, Path], tmp_path: Path) -> None:
    packed = tmp_path / "busy.log.gz"
    packed.write_bytes(gzip.compress(logs["busy"].read_bytes()))
    parts = fleet.plan([logs["busy"], packed, logs["lab"]], 4, split_above=100_000)
    assert [(p.path, p.index) for p in parts] == [
        (str(logs["busy"]), 0), (str(logs["busy"]), 1), (str(logs["busy"]), 2),
        (str(logs["busy"]), 3), (str(packed), 0), (str(logs["lab"]), 0)]
    data = logs["busy"].read_bytes()
    for part in parts[1:4]:
        assert data[part.start - 1 : part.start] == b"\n"  # at line boundaries
    assert fleet.plan([logs["busy"]], 4) == [fleet.Part(str(logs["busy"]), str(logs["busy"]))]


def test_worker_processes_give_the_sequential_diagnosis(shipped: KnowledgeBase,
                                                        logs: dict[str, Path],
                                                        tmp_path: Path) -> None:
    packed = tmp_path / "varied.log.gz"
    packed.write_bytes(gzip.compress(logs["varied"].read_bytes()))
    files = [logs["mixed"], packed, logs["sample"]]
    factory = partial(fleet.load, [str(ROOT / "content")], os.environ["KB_CACHE_DIR"])
    options = fleet.Options(collect_unmatched=True)
    parts = fleet.plan(files, 3, split_above=0)
    assert len(parts) == 7  # the two plain files in three ranges each
    parallel, errors = fleet.diagnose_parallel(factory, parts, 2, options)
    sequential = _whole(shipped, files[0]) + _whole(shipped, files[1]) \
        + _whole(shipped, files[2])
    assert errors == [] and parallel == sequential


# -- the command line -----------------------------------------------------------------------


def _kb(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100"}
    return subprocess.run([sys.executable, "-m", "frontends.cli", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def fleet_dir(logs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """logs/web01 ... web04: rotated, gzipped error logs of four servers."""
    root = tmp_path_factory.mktemp("hosts")
    sources = [("web01", "lab"), ("web02", "busy"), ("web03", "varied"), ("web04", "lab")]
    for host, name in sources:
        folder = root / "logs" / host
        folder.mkdir(parents=True)
        (folder / "error.log").write_bytes(logs[name].read_bytes())
        with gzip.open(folder / "error.log.1.gz", "wb") as handle:
            handle.write(logs["sample"].read_bytes())
    return root


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "logs").rglob("error.log*"))


def test_jobs_output_is_identical_to_one_job(fleet_dir: Path) -> None:
    """kb diagnose -j 2 over several servers' files prints byte for byte what -j 1 prints
    (text report and NDJSON), and says on how many hosts each problem occurs."""
    files = _files(fleet_dir)
    for form in ([], ["--json"]):
        one = _kb("diagnose", "--no-pager", "-j", "1", *form, *files, cwd=fleet_dir)
        two = _kb("diagnose", "--no-pager", "-j", "2", *form, *files, cwd=fleet_dir)
        assert one.returncode == two.returncode == 1, one.stderr  # problems found
        assert one.stdout == two.stdout and one.stderr == two.stderr
    records = [json.loads(line) for line in two.stdout.splitlines()]
    summary = records[-1]
    assert summary["type"] == "summary" and summary["host_count"] == 4
    problems = [r for r in records if r["type"] == "problem"]
    on_all = [p for p in problems if len(p["hosts"]) == 4]  # the rotated sample is everywhere
    assert on_all and all(sum(p["hosts"].values()) == p["count"] for p in problems)
    text = _kb("diagnose", "--no-pager", *files, cwd=fleet_dir).stdout
    assert "[4 hosts]" in text and "web01" in text


_PROC_FD = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(),
                              reason="a redirected stdin's path comes from /proc (Linux)")


@_PROC_FD
def test_stdin_from_a_file_is_cut_like_the_file(logs: dict[str, Path],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """kb diagnose -j 2 < FILE reads the file in ranges in worker processes, as for
    kb diagnose -j 2 FILE, and names it stdin: the report is -j 1's, byte for byte."""
    from frontends.cli import Env, main

    original, planned = fleet.plan, []

    def plan(paths: list[str], pieces: int, **options: object) -> list[fleet.Part]:
        parts = original(paths, pieces, sources=options.get("sources"),  # type: ignore[arg-type]
                         split_above=0)  # a small file cut as a big one is
        planned.extend(parts)
        return parts

    monkeypatch.setattr(fleet, "plan", plan)
    reports = []
    for jobs in ("1", "2"):
        with logs["mixed"].open("rb") as handle:
            out, err = io.StringIO(), io.StringIO()
            code = main(["diagnose", "--json", "-j", jobs],
                        env=Env(stdout=out, stderr=err, stdin_binary=handle))
        assert code == 1, err.getvalue()
        reports.append(out.getvalue())
    assert [(p.source, p.index) for p in planned] == [("stdin", 0), ("stdin", 1)]
    assert reports[0] == reports[1]
    assert json.loads(reports[1].splitlines()[-1])["hosts"].keys() == {"stdin"}


@_PROC_FD
def test_only_a_whole_regular_file_on_stdin_has_a_path(tmp_path: Path) -> None:
    from frontends.loginput import regular_path

    path = tmp_path / "in.log"
    path.write_bytes(b"one\ntwo\n")
    with path.open("rb") as handle:
        assert regular_path(handle) == str(path)
        handle.seek(4)  # `{ read first; kb diagnose; } < file`: the rest only
        assert regular_path(handle) is None
    read, write = os.pipe()
    with os.fdopen(read, "rb") as pipe, os.fdopen(write, "wb"):
        assert regular_path(pipe) is None
    assert regular_path(io.BytesIO(b"x\n")) is None


def test_by_host_groups_the_report(fleet_dir: Path) -> None:
    files = _files(fleet_dir)
    done = _kb("diagnose", "--no-pager", "--by-host", *files, cwd=fleet_dir)
    assert done.returncode == 1, done.stderr
    headings = [re.match(r"(\S+): ([\d,]+) occurrence", line)
                for line in done.stdout.splitlines()]
    totals = [(m[1], int(m[2].replace(",", ""))) for m in headings if m]
    assert {host for host, _ in totals} == {"web01", "web02", "web03", "web04"}
    assert [n for _, n in totals] == sorted((n for _, n in totals), reverse=True)  # worst first
    rows = re.findall(r"^ +([\d,]+)x #", done.stdout, re.M)
    assert sum(int(r.replace(",", "")) for r in rows) == sum(n for _, n in totals)


def test_jobs_reports_unreadable_files_like_one_job(fleet_dir: Path) -> None:
    files = [*_files(fleet_dir), "logs/missing.log"]
    one = _kb("diagnose", "--no-pager", "-j", "1", *files, cwd=fleet_dir)
    two = _kb("diagnose", "--no-pager", "-j", "2", *files, cwd=fleet_dir)
    assert one.returncode == two.returncode == 2
    assert one.stderr == two.stderr and "missing.log" in two.stderr
    assert one.stdout == two.stdout


# -- Dask ---------------------------------------------------------------------------------


def test_dask_local_cluster_gives_the_cli_diagnosis(fleet_dir: Path, shipped: KnowledgeBase,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """kb.dask.diagnose on a distributed.LocalCluster with 2 worker processes: globs, gzip,
    big files in ranges; the same diagnosis as one sequential read of every file."""
    distributed = pytest.importorskip("distributed")
    from kb import dask as kb_dask

    monkeypatch.chdir(fleet_dir)
    assert len(kb_dask.parts_of(["logs/*/error.log"], 2, split_above=100_000)) > 4
    expected = None
    for name in _files(fleet_dir):
        one = _whole(shipped, fleet_dir / name, name, unmatched=False)
        expected = one if expected is None else expected + one
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        got = kb_dask.diagnose(["logs/*/error.log", "logs/*/error.log.1.gz"],
                               content=[ROOT / "content"],
                               cache_dir=os.environ["KB_CACHE_DIR"], pieces=2,
                               split_above=100_000)
        assert len(client.scheduler_info()["workers"]) == 2
        from_object = kb_dask.diagnose(["logs/web01/error.log"], kb=shipped)
    assert got == expected
    assert from_object == _whole(shipped, fleet_dir / "logs/web01/error.log",
                                 "logs/web01/error.log", unmatched=False)


def test_scores_do_not_depend_on_the_process() -> None:
    """Workers are other processes, with other string hash seeds: every score and confidence
    must come out bit for bit the same (sums run in a fixed order), or merged results would
    depend on where each part ran."""
    script = ("import sys; from kb import KnowledgeBase; kb = KnowledgeBase.default("
              "cache_dir=sys.argv[1], semantic=False); "
              "d = kb.diagnose(open(sys.argv[2], encoding='utf-8').read().splitlines()); "
              "print(repr([(p.entry.id, p.template, p.confidence) for p in d.problems])); "
              "print(repr([(h.entry.id, h.score, h.confidence) for q in ("
              "'why does apache ask for a pass phrase at startup', 'CSR for a wildcard',"
              " 'SSL handshake failed: no shared cipher') for h in kb.search(q)]))")
    outputs = set()
    for seed in ("1", "2", "3"):
        done = subprocess.run([sys.executable, "-c", script, os.environ["KB_CACHE_DIR"],
                               str(LAB)], env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, text=True, timeout=120, check=True)
        outputs.add(done.stdout)
    assert len(outputs) == 1


def test_dask_on_the_command_line(fleet_dir: Path) -> None:
    """kb diagnose --dask local -j 2 'PATTERN': a LocalCluster of two workers, the patterns
    expanded by kb; the report is the one of the files read in a row."""
    pytest.importorskip("distributed")
    files = _files(fleet_dir)
    plain = _kb("diagnose", "--no-pager", "--json", *files, cwd=fleet_dir)
    dask = _kb("diagnose", "--no-pager", "--json", "--dask", "local", "-j", "2",
               "logs/*/error.log", "logs/*/error.log.*.gz", cwd=fleet_dir)
    assert dask.returncode == plain.returncode == 1, dask.stderr[-2000:]
    assert dask.stdout == plain.stdout


def test_spark_example(fleet_dir: Path) -> None:
    """examples/spark_diagnose.py (mapPartitions + treeReduce on local[2]) prints what
    kb diagnose --json prints. Needs pyspark and a Java runtime, which the test extra does not
    install (hundreds of MB): skipped without them."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("no Java runtime for Spark")
    files = _files(fleet_dir)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOCAL_IP": "127.0.0.1"}
    spark = subprocess.run([sys.executable, str(ROOT / "examples" / "spark_diagnose.py"),
                            "--split-above", "100000", *files], cwd=fleet_dir, env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert spark.returncode == 0, spark.stderr[-3000:]
    assert spark.stdout == _kb("diagnose", "--no-pager", "--json", *files, cwd=fleet_dir).stdout


def test_a_worker_loads_its_knowledge_base_once() -> None:
    """Each task brings its own unpickled copy of the factory: the worker's knowledge base is
    found by the factory's value, or every task would load (and keep) another one."""
    factory = partial(fleet.load, [str(ROOT / "content")], os.environ["KB_CACHE_DIR"])
    first = fleet._worker_kb(pickle.loads(pickle.dumps(factory)))
    assert fleet._worker_kb(pickle.loads(pickle.dumps(factory))) is first
    other = partial(fleet.load, [str(ROOT / "examples")], os.environ["KB_CACHE_DIR"])
    assert fleet._factory_key(other) != fleet._factory_key(factory)


def test_small_inputs_stay_in_one_process(logs: dict[str, Path], tmp_path: Path) -> None:
    assert fleet.default_jobs([logs["lab"], logs["sample"]]) == 1  # a few kB: not worth it
    big = tmp_path / "big.log"
    with big.open("wb") as handle:
        handle.truncate(fleet.SPLIT_ABOVE + 1)
    assert fleet.default_jobs([big]) == (os.cpu_count() or 1)
    assert fleet.default_jobs([big, logs["lab"]]) == (os.cpu_count() or 1)
