#!/usr/bin/env python3
"""Speed figures of kb, each beside a baseline measured in the same run, as a ratio.

    python scripts/bench.py [--quick] [--large] [--json] [--only SECTION ...] [--log FILE ...]

The machine may be shared and noisy, so absolute times drift between runs; a ratio to a
baseline timed in the same run, interleaved with it and taken as the median of repeats, drifts
much less. Sections (targets from the performance issues in brackets):

- search:   KnowledgeBase.default().search latency, p50 [<= 2 ms] and p99 [<= 10 ms], over every
            example line and entry title of the shipped FAQ plus routine log lines; baseline:
            a plain whoosh BM25F query over the same entries (scripts/eval.py's baseline).
- big:      a generated 10,000-entry KB: build (a fresh process: wall and peak RSS), warm
            open (fresh processes), search p50 [<= 5 ms] and p99 [<= 20 ms, below FTS5's] over
            the search section's texts, a whole `kb search` process; baselines SQLite FTS5
            over the same entries (stdlib sqlite3, in memory, an OR of the text's words ranked
            by bm25() with kb's field weights) and plain whoosh, interleaved by round.
- large:    the same with 100,000 entries (only with --large or --only large: ~5 min):
            build [<= 120 s, <= 1 GB peak], warm open [<= 300 ms], p50 [<= 20 ms], p99
            [<= 60 ms, below FTS5's], a whole `kb search` process [<= 1 s]; FTS5 only (plain
            whoosh takes minutes and gigabytes to build this).
- process:  whole processes on a warm cache against `python -c pass`: `kb search`
            [<= 5x, goal 3x], `kb --version` [<= 2x], `kb diagnose` of an empty file [<= 6x].
- open:     KnowledgeBase.default() in a fresh process, cold (empty cache) and warm [<= 15 ms].
- diagnose: `kb diagnose --json -j 1 FILE` (one core) on two generated 1,000,000-line logs,
            the easy one of make_log.py [>= 220,000 lines/s] and a realistic one
            (make_log.py --realistic: production variety) [>= 150,000 lines/s, >= 5x Drain3],
            peak RSS [<= 100 MB], and a log of 100,000 distinct templates [RSS <= 100 MB];
            also `kb diagnose --json FILE`, the default -j a user gets (all cores for a plain
            file over 32 MB), against the same targets, with the peak RSS of its largest
            process; baselines `grep -c -E` for error levels and Drain3 (the `bench` extra,
            one core), in the same run. ``--log FILE`` adds your own logs (plain text), timed
            the same way beside the same baselines, with no target.
- fleet:    `kb diagnose -j 2` against `-j 1` on the realistic log (one big file, cut in two) and
            on 20 gzipped files [>= 1.8x, identical output, <= 100 MB per process]; kb.dask on
            a LocalCluster of 2 workers against 1 [>= 1.6x, results = the CLI's] (the `dask`
            extra).

In-process searches are kb's own ranking (semantic=False): with the semantic extra installed,
kb.search also embeds every question in words (to check or re-rank its answers), which these
figures leave out.
Every child process gets KB_CACHE_DIR in a temporary directory, and in-process loads get it as
cache_dir: the user's cache is never read or written. ``--quick`` uses 100,000 log lines, a
2,000-entry KB and fewer repeats (~1 min).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import make_log  # noqa: E402

from kb import Entry, KbError, KnowledgeBase, fleet  # noqa: E402

Section = Literal["search", "big", "large", "process", "open", "diagnose", "fleet"]
SECTIONS: tuple[Section, ...] = ("search", "big", "large", "process", "open", "diagnose",
                                 "fleet")
DEFAULT_SECTIONS = tuple(s for s in SECTIONS if s != "large")
GREP_PATTERN = r"\[(error|crit|alert|emerg)\]|:(error|crit|alert|emerg)\]"
PROCESS_QUERY = "AH02565: Certificate and private key do not match"
LARGE_ENTRIES = 100_000


@dataclass
class Sizes:
    """How big and how often: full run or --quick."""

    log_lines: int
    big_entries: int
    rounds: int  # in-process latency rounds
    processes: int  # runs of each short subprocess
    diagnose_runs: int
    templates: int = 100_000  # distinct templates of the cardinality sweep
    sweep_lines: int = 400_000
    fleet_files: int = 20  # gzipped files of the fleet section (log_lines in all)
    logs: tuple[str, ...] = ()  # the user's own logs for the diagnose section (--log)


FULL = Sizes(log_lines=1_000_000, big_entries=10_000, rounds=7, processes=11, diagnose_runs=3)
QUICK = Sizes(log_lines=100_000, big_entries=2_000, rounds=3, processes=5, diagnose_runs=2,
              templates=10_000, sweep_lines=50_000)
DRAIN_RUNS = 1  # Drain3 takes ~20 s per million lines: one run beside each log


@dataclass
class Figure:
    """One measured figure, its baseline and target."""

    name: str
    value: float
    unit: str
    baseline: str = ""
    baseline_value: float | None = None
    ratio: float | None = None  # value / baseline_value
    target: str = ""
    ok: bool | None = None  # None: no target


@dataclass
class Result:
    """The figures of one section and how they were measured."""

    section: str
    how: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure


# -- helpers -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; values need not be sorted."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[rank]


def time_each(fn: Callable[[str], object], texts: Sequence[str]) -> list[float]:
    """Seconds per call of fn(text), one measurement per text."""
    out = []
    clock = time.perf_counter
    for text in texts:
        start = clock()
        fn(text)
        out.append(clock() - start)
    return out


def child_env(cache: Path, bytecode: bool = True) -> dict[str, str]:
    """The environment of every child: our cache, no extra content, no colour.

    With ``bytecode`` (the default) children keep compiled bytecode in a private prefix next
    to the cache, as ``pip install`` leaves an installed package, even where the machine sets
    PYTHONDONTWRITEBYTECODE (this one does; a source checkout then recompiles every kb module
    in every process). Without it they get exactly that: no bytecode for kb's own modules.
    """
    env = dict(os.environ)
    env["KB_CACHE_DIR"] = str(cache)
    env.pop("KB_PATH", None)
    env["NO_COLOR"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(cache.parent / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    return env


@dataclass
class Run:
    """One finished child process."""

    seconds: float
    max_rss_mb: float
    returncode: int


# Children are started from a small, fresh Python rather than from this process: a child's
# ru_maxrss includes the memory image it was forked from (Linux records the old mm's high-water
# mark at exec), so forking from a bench process holding a 10,000-entry KB would report that
# process's size. The wrapper times the child itself and reports RUSAGE_CHILDREN.
_WRAPPER = """
import resource, subprocess, sys, time
out = subprocess.DEVNULL if sys.argv[1] == "-" else open(sys.argv[1], "wb")
start = time.perf_counter()
code = subprocess.call(sys.argv[2:], stdout=out)
seconds = time.perf_counter() - start
print(code, seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def run_child(argv: Sequence[str], env: dict[str, str], stdout: Path | None = None) -> Run:
    """Run argv (stdout to /dev/null, or to a file); its wall time and peak RSS.

    GNU grep notices an output of /dev/null and stops at the first match, so baselines that
    must read everything write to a file instead.
    """
    where = str(stdout) if stdout is not None else "-"
    done = subprocess.run([sys.executable, "-c", _WRAPPER, where, *argv], env=env,
                          capture_output=True, text=True, check=False)
    try:
        code, seconds, rss = done.stdout.split()
    except ValueError:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()[:500]}") from None
    if int(code) not in (0, 1):
        raise RuntimeError(f"{' '.join(argv)} exited {code}: {done.stderr.strip()[:500]}")
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / (1024 * 1024)
    return Run(float(seconds), int(rss) * scale, int(code))


def child_output(argv: Sequence[str], env: dict[str, str], ok: tuple[int, ...] = (0, 1)) -> str:
    """The stdout of argv; RuntimeError with its stderr when it exits with a code not in ok."""
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr[:500]}")
    return done.stdout


def kb_command() -> list[str]:
    """The installed ``kb`` script next to this interpreter, else ``python -m frontends.cli``."""
    script = Path(sys.executable).parent / "kb"
    return [str(script)] if script.exists() else [sys.executable, "-m", "frontends.cli"]


def progress(message: str) -> None:
    sys.stderr.write(f"bench: {message}\n")
    sys.stderr.flush()


# -- the baseline ranker -----------------------------------------------------------------------


def plain_whoosh(entries: Sequence[Entry]) -> Callable[[str], object]:
    """The plain whoosh BM25F baseline of scripts/eval.py (title + answer, in memory).

    Why this baseline: it is the library kb wraps, doing the same kind of work in the same
    interpreter, so kb/baseline is kb's own cost (log parsing, exact signals, confidence) and
    noise on a shared machine moves both alike. A ``re.search`` of one literal would time a C
    loop a thousand times faster, and its ratio would mostly measure interpreter overhead.
    """
    import importlib.util

    spec = importlib.util.spec_from_file_location("kb_eval", ROOT / "scripts" / "eval.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.baseline_ranker(entries)  # type: ignore[no-any-return]


def queries(kb: KnowledgeBase) -> list[str]:
    """Every example line and title of the KB, plus 40 routine log lines (noise)."""
    texts = [x for e in kb.entries() for x in e.examples] + [e.title for e in kb.entries()]
    texts += list(make_log.generate(40, seed=7, ssl_share=0.0))
    return texts


def latency(kb: KnowledgeBase, bases: dict[str, Callable[[str], object]],
            texts: Sequence[str], rounds: int) -> dict[str, tuple[float, float]]:
    """Median over rounds of (p50, p99) in seconds for kb.search ("kb") and each baseline,
    interleaved round by round."""
    runners: dict[str, Callable[[str], object]] = {"kb": lambda t: kb.search(t, limit=5)}
    runners.update(bases)
    for run in runners.values():  # warm-up: lazy imports, caches
        time_each(run, texts)
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runners}
    for _ in range(rounds):
        for name, run in runners.items():
            times = time_each(run, texts)
            samples[name].append((percentile(times, 0.5), percentile(times, 0.99)))
    med = statistics.median
    return {name: (med(p[0] for p in got), med(p[1] for p in got))
            for name, got in samples.items()}


def latency_figures(result: Result, lat: dict[str, tuple[float, float]], p50_target: float,
                    p99_target: float | None, below: str = "") -> None:
    """p50 and p99 beside each baseline; with ``below``, the p99 must also be under that
    baseline's."""
    ms = 1000.0
    mine = lat["kb"]
    for name, theirs in lat.items():
        if name == "kb":
            continue
        first = name == next(n for n in lat if n != "kb")
        result.add(Figure("search p50", mine[0] * ms, "ms", f"{name} p50", theirs[0] * ms,
                          mine[0] / theirs[0], f"<= {p50_target:g} ms" if first else "",
                          mine[0] * ms <= p50_target if first else None))
        target = [f"<= {p99_target:g} ms"] if p99_target and first else []
        ok = [mine[1] * ms <= p99_target] if p99_target and first else []
        if name == below:
            target.append(f"below {name}'s")
            ok.append(mine[1] < theirs[1])
        result.add(Figure("search p99", mine[1] * ms, "ms", f"{name} p99", theirs[1] * ms,
                          mine[1] / theirs[1], ", ".join(target), all(ok) if ok else None))


def fts5(entries: Sequence[Entry]) -> Callable[[str], object]:
    """SQLite FTS5 over the same entries and fields (stdlib sqlite3, in memory): an OR of the
    text's distinct words (at most kb's 48 terms), ranked by bm25() with kb's field weights
    for log lines, porter stemming. What a plain full-text engine does with the same input."""
    import sqlite3

    from kb.weights import WEIGHTS

    fields = list(WEIGHTS.log_fields)
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5({', '.join(fields)}, "
               "tokenize='porter unicode61')")
    db.executemany(f"INSERT INTO t(rowid, {', '.join(fields)}) VALUES (?, ?, ?, ?, ?)",
                   ((i, *_fields(e)) for i, e in enumerate(entries)))
    db.commit()
    weights = ", ".join(str(WEIGHTS.log_fields[f]) for f in fields)
    sql = f"SELECT rowid FROM t WHERE t MATCH ? ORDER BY bm25(t, {weights}) LIMIT 5"
    word = re.compile(r"\w+")

    def search(text: str) -> object:
        words = list(dict.fromkeys(w.lower() for w in word.findall(text)))[:WEIGHTS.max_terms]
        if not words:
            return []
        return db.execute(sql, (" OR ".join(f'"{w}"' for w in words),)).fetchall()

    return search


def _fields(entry: Entry) -> tuple[str, str, str, str]:
    """An entry's text in kb's index fields (signatures, title, tags, answer)."""
    return ("\n".join([s.text for s in entry.signatures] + list(entry.examples)),
            "\n".join((entry.title, *entry.questions)), "\n".join((*entry.tags, entry.section)),
            entry.answer)


# -- sections ----------------------------------------------------------------------------------


def bench_search(sizes: Sizes, work: Path) -> Result:
    """Search latency on the shipped KB."""
    kb = KnowledgeBase.default(cache_dir=work / "cache", semantic=False)
    texts = queries(kb)
    result = Result("search", "KnowledgeBase.default(semantic=False).search(text, limit=5) over "
                    f"{len(texts)} "
                    f"texts ({len(kb)} entries: every example line and title, 40 routine log "
                    f"lines), one timing per call; p50/p99 per round, median of {sizes.rounds} "
                    "rounds, interleaved with the baseline (plain whoosh BM25F over title + "
                    "answer of the same entries, in memory).")
    lat = latency(kb, {"plain whoosh": plain_whoosh(kb.entries())}, texts, sizes.rounds)
    latency_figures(result, lat, 2, 10)
    return result


_BUILD_CODE = """
import sys
from kb import KnowledgeBase
KnowledgeBase.from_paths([sys.argv[1]], cache_dir=sys.argv[2])
"""
_OPEN_BIG_CODE = """
import sys, time
t0 = time.perf_counter()
from kb import KnowledgeBase
kb = KnowledgeBase.from_paths([sys.argv[1]], cache_dir=sys.argv[2])
print(time.perf_counter() - t0, len(kb))
"""


@dataclass
class Collection:
    """What the big and large sections measure, and their targets."""

    name: Section
    entries: int
    texts_every: int  # time every n-th text of the search section
    whoosh: bool
    p50: float
    p99: float
    build: float | None = None  # seconds
    rss: float | None = None  # MB
    open: float | None = None  # ms
    process: float | None = None  # ms


def bench_collection(sizes: Sizes, work: Path, spec: Collection,
                     shipped_p50: float | None) -> Result:
    """A generated KB: build and warm open in fresh processes, search latency in this one,
    and a whole search process; FTS5 (and plain whoosh) over the same entries."""
    content = work / f"{spec.name}-kb"
    cache = work / f"cache-{spec.name}"
    shipped = KnowledgeBase.default(cache_dir=work / "cache")
    progress(f"{spec.name}: writing {spec.entries:,} entries")
    files = write_big_kb(content, shipped.entries(), spec.entries, seed=11)
    env = child_env(work / "cache")
    progress(f"{spec.name}: build")
    built = run_child([sys.executable, "-c", _BUILD_CODE, str(content), str(cache)], env)
    progress(f"{spec.name}: warm open, whole processes")
    opens, processes, passes = [], [], []
    command = [*kb_command(), "--no-default", "--kb", str(content), "search", PROCESS_QUERY]
    for _ in range(max(3, sizes.processes // 2)):
        out = child_output([sys.executable, "-c", _OPEN_BIG_CODE, str(content), str(cache)],
                           env, ok=(0,))
        opens.append(float(out.split()[0]))
        processes.append(run_child(command, child_env(cache)).seconds)
        passes.append(run_child([sys.executable, "-c", "pass"], env).seconds)
    kb = KnowledgeBase.from_paths([content], cache_dir=cache, semantic=False)
    entries = kb.entries()
    start = time.perf_counter()
    bases: dict[str, Callable[[str], object]] = {"SQLite FTS5": fts5(entries)}
    fts_build = time.perf_counter() - start
    if spec.whoosh:
        bases["plain whoosh"] = plain_whoosh(entries)
    del entries
    texts = queries(shipped)[:: spec.texts_every]
    rounds = max(1, sizes.rounds // 3)
    progress(f"{spec.name}: search latency, {rounds} round(s) of {len(texts)} texts")
    lat = latency(kb, bases, texts, rounds)
    med = statistics.median
    result = Result(spec.name, f"{len(kb):,} generated entries in {files} Markdown files "
                    "(questions, answers, tags and signatures mixed from the shipped FAQ's "
                    "vocabulary). Build: KnowledgeBase.from_paths on an empty cache in a fresh "
                    "process (wall, peak RSS); warm open: the same call timed inside fresh "
                    f"processes (median of {len(opens)}); search: kb.search(text, limit=5) "
                    f"over {len(texts)} of the search section's texts (one in "
                    f"{spec.texts_every}), median of {rounds} round(s), interleaved with "
                    f"{' and '.join(bases)} over the same entries; process: `kb --no-default "
                    f"--kb DIR search '{PROCESS_QUERY}'` (median of {len(processes)}).")
    result.add(Figure("build", built.seconds, "s", "SQLite FTS5 build (in memory)", fts_build,
                      built.seconds / fts_build, _target(spec.build, "s"),
                      _ok(built.seconds, spec.build)))
    result.add(Figure("build peak RSS", built.max_rss_mb, "MB", "", None, None,
                      _target(spec.rss, "MB"), _ok(built.max_rss_mb, spec.rss)))
    result.add(Figure("warm open", med(opens) * 1000, "ms", "", None, None,
                      _target(spec.open, "ms"), _ok(med(opens) * 1000, spec.open)))
    latency_figures(result, lat, spec.p50, spec.p99, below="SQLite FTS5")
    process, base = med(processes) * 1000, med(passes) * 1000
    result.add(Figure("kb search process", process, "ms", "python -c pass", base,
                      process / base, _target(spec.process, "ms"), _ok(process, spec.process)))
    size = sum(f.stat().st_size for f in (content.rglob("*.md"))) / 1e6
    index = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) / 1e6
    result.add(Figure("index cache size", index, "MB", "the Markdown", size, index / size))
    if shipped_p50:
        result.notes.append(f"p50 is {lat['kb'][0] / shipped_p50:.1f}x the shipped KB's p50 "
                            f"({len(kb):,} vs {len(shipped)} entries)")
    return result


def _target(limit: float | None, unit: str) -> str:
    return f"<= {limit:g} {unit}" if limit is not None else ""


def _ok(value: float, limit: float | None) -> bool | None:
    return value <= limit if limit is not None else None


def bench_process(sizes: Sizes, work: Path) -> Result:
    """Whole kb processes on a warm cache vs `python -c pass`."""
    env = child_env(work / "cache")
    raw_env = child_env(work / "cache", bytecode=False)
    kb = kb_command()
    empty = work / "empty.log"
    empty.write_text("")
    commands = {
        "kb search process": [*kb, "search", PROCESS_QUERY],
        "kb --version": [*kb, "--version"],
        "kb --help": [*kb, "--help"],
        "kb diagnose (empty file)": [*kb, "diagnose", "--json", str(empty)],
        "python -c 'import kb'": [sys.executable, "-c", "import kb"],
    }
    for argv in commands.values():  # warm the cache (index and bytecode)
        run_child(argv, env)
    runs: dict[str, list[float]] = {name: [] for name in [*commands, "pass", "source"]}
    for _ in range(sizes.processes):
        for name, argv in commands.items():
            runs[name].append(run_child(argv, env).seconds)
        runs["pass"].append(run_child([sys.executable, "-c", "pass"], env).seconds)
        runs["source"].append(run_child(commands["kb search process"], raw_env).seconds)
    med = {k: statistics.median(v) * 1000 for k, v in runs.items()}
    result = Result("process", f"wall time of whole processes, median of {sizes.processes} "
                    "interleaved runs on a warm cache, each beside `python -c pass` (same "
                    f"interpreter): `kb search '{PROCESS_QUERY}'`, `kb --version`, `kb --help`, "
                    "`kb diagnose --json` of an empty file, `python -c 'import kb'`, with "
                    "bytecode cached as an installed package has it; then the same search "
                    "with no bytecode written for kb's modules (a source checkout where "
                    "PYTHONDONTWRITEBYTECODE is set), for information.")
    targets = {"kb search process": 5.0, "kb --version": 2.0, "kb diagnose (empty file)": 6.0}
    for name in [*commands, "source"]:
        ratio = med[name] / med["pass"]
        limit = targets.get(name)
        label = "kb search, kb without bytecode" if name == "source" else name
        result.add(Figure(label, med[name], "ms", "python -c pass", med["pass"], ratio,
                          f"<= {limit:g}x" if limit else "", ratio <= limit if limit else None))
    result.notes.append("goal for the search process: 3x python -c pass")
    return result


_OPEN_CODE = """
import sys, time
t0 = time.perf_counter()
import kb, kb.knowledgebase, kb.rank, kb.bm25, kb.records  # what a search needs (kb is lazy)
t1 = time.perf_counter()
import os
k = kb.KnowledgeBase.default(cache_dir=os.environ["KB_CACHE_DIR"])
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, len(k))
"""


def bench_open(sizes: Sizes, work: Path) -> Result:
    """KnowledgeBase.default() in a fresh process: empty cache (cold) vs warm cache."""
    cold_runs = max(3, sizes.processes // 2)
    cold: list[tuple[float, float]] = []
    warm: list[tuple[float, float]] = []
    warm_env = child_env(work / "cache-open")
    child_output([sys.executable, "-c", _OPEN_CODE], warm_env, ok=(0,))
    for i in range(max(cold_runs, sizes.processes)):
        if i < cold_runs:
            cache = work / f"cache-cold-{i}"
            cold.append(_open_times(child_output([sys.executable, "-c", _OPEN_CODE],
                                                 child_env(cache), ok=(0,))))
            shutil.rmtree(cache, ignore_errors=True)
        warm.append(_open_times(child_output([sys.executable, "-c", _OPEN_CODE], warm_env,
                                             ok=(0,))))
    med = statistics.median
    cold_open, warm_open = med(c[1] for c in cold) * 1000, med(w[1] for w in warm) * 1000
    imports = med(w[0] for w in warm + cold) * 1000
    result = Result("open", "time.perf_counter() inside a fresh `python -c` process around "
                    "importing kb's search modules (the package itself loads them lazily) and "
                    "around KnowledgeBase.default(); cold = empty KB_CACHE_DIR "
                    f"(compile + build the index; median of {cold_runs}), warm = cache already "
                    f"built (median of {len(warm)}).")
    result.add(Figure("warm open", warm_open, "ms", "cold open", cold_open,
                      warm_open / cold_open, "<= 15 ms", warm_open <= 15))
    result.add(Figure("cold open", cold_open, "ms"))
    result.add(Figure("import kb search modules", imports, "ms"))
    return result


def _open_times(output: str) -> tuple[float, float]:
    imp, load, _ = output.split()
    return float(imp), float(load)


_DRAIN = """
import sys, time
from drain3 import TemplateMiner
miner = TemplateMiner()
with open(sys.argv[1], encoding="utf-8", errors="replace") as handle:
    for line in handle:
        miner.add_log_message(line.rstrip("\\n"))
print(len(miner.drain.clusters))
"""


def _drain3_ok() -> bool:
    try:
        import drain3  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class LogRun:
    """kb diagnose and its baselines on one log."""

    name: str
    lines: int
    kb: float
    rss: float
    grep: float
    drain: float | None
    startup: float
    summary: dict[str, int]
    default: Run | None = None  # a run with the default -j (when measured) ...
    default_jobs: int = 1  # ... which is this for the log


def _diagnose_runs(log: Path, name: str, lines: int, sizes: Sizes, work: Path,
                   drain: bool, with_default: bool = False) -> LogRun:
    env = child_env(work / "cache")
    kb = kb_command()
    empty = work / "empty.log"
    empty.write_text("")
    run_child([*kb, "diagnose", "--brief", str(empty)], env)  # warm the cache
    one_core = [*kb, "diagnose", "--json", "-j", "1", str(log)]
    default_run = [*kb, "diagnose", "--json", str(log)]
    summary = _summary(child_output(one_core, env))
    if with_default and _summary(child_output(default_run, env)) != summary:
        raise RuntimeError(f"diagnose {log.name}: the default -j reports otherwise than -j 1")
    grep_env = dict(env, LC_ALL="C")
    runs, greps, starts, drains, defaults = [], [], [], [], []
    for number in range(sizes.diagnose_runs):
        progress(f"diagnose: {name} log, run {number + 1} of {sizes.diagnose_runs}")
        runs.append(run_child(one_core, env))
        if with_default:
            defaults.append(run_child(default_run, env))
        greps.append(run_child(["grep", "-c", "-E", GREP_PATTERN, str(log)], grep_env,
                               stdout=work / "grep.out").seconds)
        starts.append(run_child([*kb, "diagnose", "--brief", str(empty)], env).seconds)
        if drain and number < DRAIN_RUNS:
            drains.append(run_child([sys.executable, "-c", _DRAIN, str(log)], env).seconds)
    med = statistics.median
    default = None
    if defaults:
        default = Run(med(r.seconds for r in defaults), max(r.max_rss_mb for r in defaults), 0)
    return LogRun(name, lines, med(r.seconds for r in runs), max(r.max_rss_mb for r in runs),
                  med(greps), med(drains) if drains else None, med(starts), summary, default,
                  fleet.default_jobs([log]))


def bench_diagnose(sizes: Sizes, work: Path) -> Result:
    """`kb diagnose --json -j 1 FILE` on an easy and a realistic log, against grep and Drain3."""
    drain = _drain3_ok()
    made: list[LogRun] = []
    for name, writer in (("easy", _easy_log), ("realistic", _realistic_log)):
        log = work / f"{name}.log"
        lines = writer(log, sizes.log_lines)
        made.append(_diagnose_runs(log, name, lines, sizes, work, drain, with_default=True))
        log.unlink()
    for own in sizes.logs:
        path = Path(own)
        made.append(_diagnose_runs(path, path.name, _line_count(path), sizes, work, drain,
                                   with_default=True))
    sweep = work / "templates.log"
    sweep_lines = _realistic_log(sweep, sizes.sweep_lines, templates=sizes.templates)
    sweep_run = _diagnose_runs(sweep, "templates", sweep_lines,
                               replace(sizes, diagnose_runs=1), work, drain=False)
    result = Result("diagnose", f"`kb diagnose --json -j 1 FILE` (one core, as the baselines; "
                    "the fleet section measures -j 2) and `kb diagnose --json FILE` (the "
                    "default -j: all cores for a plain file over 32 MB; its report checked "
                    "equal to -j 1's), stdout to /dev/null, warm index "
                    f"cache, median wall of {sizes.diagnose_runs} runs; peak RSS = "
                    "RUSAGE_CHILDREN ru_maxrss of a fresh wrapper process around each run (max "
                    "over runs). Logs: easy = make_log.py (variables are digits, 3% TLS "
                    "problems); realistic = make_log.py --realistic (production variety: IPv6, "
                    "thousands of host names, UUIDs, serials, 30% TLS errors, 3% unique lines); "
                    f"templates = --realistic --templates {sizes.templates:,} "
                    f"({sizes.sweep_lines:,} lines). Baselines in the same run, interleaved: "
                    "`LC_ALL=C grep -c -E '" + GREP_PATTERN + "' FILE > out`, and Drain3 "
                    "(TemplateMiner().add_log_message per line, default config: "
                    f"pip install '.[bench]'; median of {DRAIN_RUNS} runs).")
    targets = {"easy": 220_000, "realistic": 150_000}  # a --log FILE has none
    for run in made:
        rate = run.lines / run.kb
        target = targets.get(run.name)
        result.add(Figure(f"{run.name}: throughput", rate, "lines/s", "grep -c -E",
                          run.lines / run.grep, rate / (run.lines / run.grep),
                          f">= {target:,} lines/s" if target else "",
                          rate >= target if target else None))
        drain_target = 5 if run.name == "realistic" else None  # times Drain3's rate
        if run.drain is not None:
            drain_rate = run.lines / run.drain
            result.add(Figure(f"{run.name}: vs Drain3", rate, "lines/s", "Drain3", drain_rate,
                              rate / drain_rate, f">= {drain_target}x" if drain_target else "",
                              rate / drain_rate >= drain_target if drain_target else None))
        result.add(Figure(f"{run.name}: peak RSS", run.rss, "MB", "", None, None, "<= 100 MB",
                          run.rss <= 100))
        result.add(Figure(f"{run.name}: after start-up", run.lines / max(run.kb - run.startup,
                                                                          1e-9), "lines/s"))
        if run.default is not None:
            # What a user gets: `kb diagnose FILE` picks -j itself (all cores for a plain file
            # over 32 MB): the figure against the same targets, and the largest process.
            rate = run.lines / run.default.seconds
            result.add(Figure(f"{run.name}: throughput, default -j ({run.default_jobs})", rate,
                              "lines/s", "grep -c -E", run.lines / run.grep,
                              rate / (run.lines / run.grep),
                              f">= {target:,} lines/s" if target else "",
                              rate >= target if target else None))
            if run.drain is not None:
                drain_rate = run.lines / run.drain
                result.add(Figure(f"{run.name}: default -j vs Drain3 (one core)", rate,
                                  "lines/s", "Drain3", drain_rate, rate / drain_rate,
                                  f">= {drain_target}x" if drain_target else "",
                                  rate / drain_rate >= drain_target if drain_target else None))
            result.add(Figure(f"{run.name}: default -j, peak RSS of the largest process",
                              run.default.max_rss_mb, "MB", "", None, None, "<= 100 MB",
                              run.default.max_rss_mb <= 100))
        result.notes.append(f"{run.name}: {run.lines:,} lines; kb found "
                            + ", ".join(f"{k} {v:,}" for k, v in run.summary.items()))
    result.add(Figure(f"{sizes.templates:,} templates: peak RSS", sweep_run.rss, "MB", "",
                      None, None, "<= 100 MB", sweep_run.rss <= 100))
    result.add(Figure(f"{sizes.templates:,} templates: throughput",
                      sweep_run.lines / sweep_run.kb, "lines/s"))
    result.add(Figure("start-up (empty file)", made[0].startup * 1000, "ms"))
    if not drain:
        result.notes.append("Drain3 is not installed: pip install '.[bench]' for its figures")
    if sizes.log_lines < 1_000_000:
        result.notes.append(f"--quick: {sizes.log_lines:,} lines, not the target's 1,000,000")
    return result


def _plain_file(path: Path) -> bool:
    """True for a readable regular file that is not compressed (kb.logfiles' magic bytes)."""
    from kb.logfiles import is_compressed

    try:
        return path.is_file() and not is_compressed(path)
    except OSError:
        return False


def _line_count(path: Path) -> int:
    """The lines of a log file (a last line without a newline counts)."""
    lines, last = 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _easy_log(out: Path, lines: int) -> int:
    return make_log.write_log(out, lines, seed=1)


def _realistic_log(out: Path, lines: int, templates: int = 0) -> int:
    made = make_log.realistic_lines(lines, seed=1, templates=templates)
    out.write_text("\n".join(made) + "\n", encoding="utf-8")
    return len(made)


def _summary(ndjson: str) -> dict[str, int]:
    for line in reversed(ndjson.splitlines()):
        item = json.loads(line)
        if item.get("type") == "summary":
            keys = ("lines", "candidate_lines", "matched_lines", "problems")
            return {k.replace("_", " "): int(item[k]) for k in keys}
    return {}


# -- fleet: all cores and Dask --------------------------------------------------------------------

# A child process: a distributed.LocalCluster of N single-threaded worker processes, warmed
# (each worker loads the knowledge base from the cache once), then kb.dask.diagnose timed over
# the files; prints the seconds, the workers' peak RSS and the problems as kb's NDJSON.
_DASK = """
import json, resource, sys, time
from distributed import Client, LocalCluster
from kb import dask as kb_dask
from frontends.report import problem_json
workers, files = int(sys.argv[1]), sys.argv[2:]
with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                  dashboard_address=None) as cluster, Client(cluster) as client:
    kb_dask.diagnose(files[:1] * workers, pieces=1)
    start = time.perf_counter()
    diagnosis = kb_dask.diagnose(files)
    seconds = time.perf_counter() - start
    def peak():  # this process's own high-water mark (ru_maxrss also counts its parent's)
        try:
            with open("/proc/self/status") as status:
                return next(int(l.split()[1]) for l in status if l.startswith("VmHWM:"))
        except (OSError, StopIteration):
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss = client.run(peak)
problems = [json.dumps(problem_json(p), sort_keys=True) for p in diagnosis.problems]
print(json.dumps({"seconds": seconds, "rss_kb": max(rss.values()), "problems": problems}))
"""


def _dask_ok() -> bool:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return False
    return True


def _problems(ndjson: str) -> list[str]:
    """The problem objects of kb's NDJSON, canonical (for comparing runs)."""
    found = []
    for line in ndjson.splitlines():
        item = json.loads(line)
        if item.get("type") == "problem":
            found.append(json.dumps(item, sort_keys=True))
    return found


def bench_fleet(sizes: Sizes, work: Path) -> Result:
    """kb diagnose -j 1 against -j 2 on one big log and on many gzipped files, and kb.dask on a
    LocalCluster of one against two workers."""
    env = child_env(work / "cache")
    kb = kb_command()
    big = work / "realistic.log"
    lines = _realistic_log(big, sizes.log_lines)
    fleet = work / "fleet"
    fleet.mkdir()
    files = []
    each = max(1, sizes.log_lines // sizes.fleet_files)
    for number in range(sizes.fleet_files):
        path = fleet / f"web{number + 1:02d}" / "error.log.1.gz"
        path.parent.mkdir()
        made = make_log.realistic_lines(each, seed=100 + number)
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as handle:
            handle.write("\n".join(made) + "\n")
        files.append(str(path))
    empty = work / "empty.log"
    empty.write_text("")
    run_child([*kb, "diagnose", "--brief", str(empty)], env)  # warm the cache
    result = Result("fleet", f"`kb diagnose --json -j N` (stdout to a file), median wall of "
                    f"{sizes.diagnose_runs} runs, -j 1 and -j 2 interleaved; peak RSS = the "
                    "largest single process (RUSAGE_CHILDREN ru_maxrss: the parent or a worker). "
                    f"Inputs: the realistic log ({lines:,} lines, one plain file: -j 2 cuts it "
                    f"in two ranges) and {len(files)} gzipped files of {each:,} realistic lines "
                    "each (whole files per worker). Dask: kb.dask.diagnose on a "
                    "distributed.LocalCluster of 1 and of 2 single-threaded worker processes, "
                    "after a warm-up task per worker; wall of the diagnose call; workers' peak "
                    "RSS (VmHWM: ru_maxrss would count the memory of the process that started "
                    "them).")
    outputs: dict[tuple[str, int], str] = {}
    for name, inputs, count in (("1 big file", [str(big)], lines),
                                (f"{len(files)} gz files", files, each * len(files))):
        times: dict[int, list[float]] = {1: [], 2: []}
        rss: dict[int, float] = {1: 0.0, 2: 0.0}
        for number in range(sizes.diagnose_runs):
            for jobs in (1, 2):
                progress(f"fleet: {name}, -j {jobs}, run {number + 1} of "
                         f"{sizes.diagnose_runs}")
                out = work / f"j{jobs}.out"
                done = run_child([*kb, "diagnose", "--json", "-j", str(jobs), *inputs], env,
                                 stdout=out)
                times[jobs].append(done.seconds)
                rss[jobs] = max(rss[jobs], done.max_rss_mb)
                outputs[(name, jobs)] = out.read_text(encoding="utf-8")
        one, two = (statistics.median(times[j]) for j in (1, 2))
        same = outputs[(name, 1)] == outputs[(name, 2)]
        result.add(Figure(f"{name}: -j 2", count / two, "lines/s", "-j 1", count / one,
                          one / two, ">= 1.8x, identical output", one / two >= 1.8 and same))
        result.add(Figure(f"{name}: -j 2 peak RSS", rss[2], "MB", "", None, None,
                          "<= 100 MB per process", rss[2] <= 100))
        result.notes.append(f"{name}: -j 2 output {'identical to' if same else 'DIFFERS from'} "
                            "-j 1")
    if not _dask_ok():
        result.notes.append("Dask is not installed: pip install '.[dask]' for its figures")
        return result
    cli = _problems(outputs[(f"{len(files)} gz files", 1)])
    dask: dict[int, dict[str, Any]] = {}
    for workers in (1, 2):
        progress(f"fleet: Dask LocalCluster, {workers} worker(s)")
        text = child_output([sys.executable, "-c", _DASK, str(workers), *files], env, ok=(0,))
        dask[workers] = json.loads(text.strip().splitlines()[-1])
    total = each * len(files)
    one, two = dask[1]["seconds"], dask[2]["seconds"]
    same = dask[1]["problems"] == dask[2]["problems"] == cli
    result.add(Figure(f"Dask {len(files)} gz: 2 workers", total / two, "lines/s", "1 worker",
                      total / one, one / two, ">= 1.6x, results = CLI", one / two >= 1.6 and same))
    worker_rss = max(dask[w]["rss_kb"] for w in (1, 2)) / 1024
    result.add(Figure("Dask: worker peak RSS", worker_rss, "MB", "", None, None, "<= 100 MB",
                      worker_rss <= 100))
    result.notes.append(f"Dask results {'identical to' if same else 'DIFFER from'} the CLI's")
    return result


# -- the generated big KB ----------------------------------------------------------------------


@dataclass
class Vocabulary:
    """Pieces of the shipped FAQ to recombine."""

    titles: list[str]
    paragraphs: list[str]
    tags: list[str]
    signatures: list[str]
    words: list[str]


def vocabulary(entries: Sequence[Entry]) -> Vocabulary:
    """Titles, questions, answer paragraphs (prose only: no fences, headings or tables), tags."""
    titles = [t for e in entries for t in (e.title, *e.questions)]
    paragraphs = []
    for entry in entries:
        for para in re.split(r"\n\s*\n", entry.answer):
            text = para.strip()
            if text and "```" not in text and not text.startswith(("#", "|", "    ", ">")):
                paragraphs.append(text)
    tags = sorted({t for e in entries for t in e.tags if "," not in t})
    signatures = [s.text if s.kind.value == "literal" else f"re: {s.text}"
                  for e in entries for s in e.signatures]
    words = sorted({w for t in titles + paragraphs for w in re.findall(r"[A-Za-z][a-z]{4,}", t)})
    return Vocabulary(titles, paragraphs, tags, signatures, words)


def write_big_kb(folder: Path, entries: Sequence[Entry], count: int, seed: int) -> int:
    """Write ``count`` generated entries as Markdown, 500 per file; returns the file count."""
    rng = random.Random(seed)
    vocab = vocabulary(entries)
    folder.mkdir(parents=True, exist_ok=True)
    per_file = 500
    files = 0
    for first in range(0, count, per_file):
        blocks = [f"# Generated section {first // per_file + 1}\n"]
        for number in range(first, min(count, first + per_file)):
            blocks.append(_big_entry(rng, vocab, number))
        (folder / f"generated-{first // per_file + 1:03d}.md").write_text(
            "\n".join(blocks), encoding="utf-8")
        files += 1
    return files


def _swap_words(rng: random.Random, text: str, vocab: Vocabulary, n: int) -> str:
    words = text.split()
    for _ in range(n):
        i = rng.randrange(len(words))
        if len(words[i]) >= 5 and words[i].isalpha():
            words[i] = rng.choice(vocab.words)
    return " ".join(words)


def _big_entry(rng: random.Random, vocab: Vocabulary, number: int) -> str:
    title = _swap_words(rng, rng.choice(vocab.titles), vocab, 3).replace("#", "").rstrip("?")
    answer = "\n\n".join(rng.sample(vocab.paragraphs, rng.randint(2, 5)))
    meta = [f"id: gen-{number:05d}", "tags: " + ", ".join(rng.sample(vocab.tags, 4))]
    questions = [_swap_words(rng, rng.choice(vocab.titles), vocab, 2) for _ in range(2)]
    meta += ["questions:", *(f"- {q}" for q in questions)]
    roll = rng.random()
    if roll < 0.4:
        signatures = []
        for _ in range(rng.randint(1, 2)):
            if rng.random() < 0.25:  # shipped signatures: codes and reasons shared by entries
                signatures.append(rng.choice(vocab.signatures))
            else:
                signatures.append(" ".join(rng.sample(vocab.words, 4)).lower() + f" {number}")
        meta += ["signatures:", *(f"- {s}" for s in dict.fromkeys(signatures))]
    return f"## {title}?\n\n{answer}\n\n```kb\n" + "\n".join(meta) + "\n```\n"


# -- report ------------------------------------------------------------------------------------


def render(results: Sequence[Result], meta: dict[str, Any]) -> Iterator[str]:
    """The human-readable report."""
    yield (f"kb bench ({meta['mode']}): python {meta['python']}, {meta['cpus']} CPUs, "
           f"load {meta['load']}, {meta['seconds']:.0f} s")
    for result in results:
        yield ""
        yield f"[{result.section}] {result.how}"
        for f in result.figures:
            value = _fmt(f.value, f.unit)
            base = ""
            if f.baseline_value is not None and f.ratio is not None:
                inverse = f" (1/{1 / f.ratio:.0f})" if f.ratio < 0.1 else ""
                base = (f"  vs {f.baseline} {_fmt(f.baseline_value, f.unit)}: "
                        f"{f.ratio:.3g}x{inverse}")
            target = ""
            if f.target:
                target = f"  target {f.target}: {'ok' if f.ok else 'MISSED'}"
            yield f"  {f.name.strip():28s} {value:>16s}{base}{target}"
        for note in result.notes:
            yield f"  note: {note}"


def _fmt(value: float, unit: str) -> str:
    if unit == "lines/s":
        return f"{value:,.0f} lines/s"
    if unit == "s":
        return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"
    return f"{value:.2f} {unit}" if value < 100 else f"{value:.0f} {unit}"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    first = (__doc__ or "").strip().splitlines()[0]
    p = argparse.ArgumentParser(description=first, epilog="Sections: " + ", ".join(SECTIONS))
    p.add_argument("--quick", action="store_true",
                   help="smaller sizes and fewer repeats (100k log lines, 2k-entry KB; ~1 min)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    p.add_argument("--only", nargs="+", choices=SECTIONS, metavar="SECTION",
                   help="run only these sections")
    p.add_argument("--lines", type=int, help="log lines for the diagnose section")
    p.add_argument("--log", nargs="+", default=[], metavar="FILE",
                   help="also time kb diagnose on these plain-text logs (diagnose section)")
    p.add_argument("--entries", type=int, help="entries of the generated KB (big section)")
    p.add_argument("--large", action="store_true",
                   help=f"also the large section ({LARGE_ENTRIES:,} entries, ~5 min)")
    args = p.parse_args(argv)
    sizes = replace(QUICK if args.quick else FULL)
    if args.lines:
        sizes = replace(sizes, log_lines=args.lines)
    if args.entries:
        sizes = replace(sizes, big_entries=args.entries)
    for own in args.log:
        if not _plain_file(Path(own)):
            p.error(f"--log {own}: not a plain-text log file (Drain3 reads it as text)")
    sizes = replace(sizes, logs=tuple(str(Path(own).resolve()) for own in args.log))
    chosen = args.only or [*DEFAULT_SECTIONS, *(["large"] if args.large else [])]
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    old_cache = os.environ.get("KB_CACHE_DIR")
    results: list[Result] = []
    try:
        with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
            results = _run(chosen, sizes, Path(tmp))
    except KbError as exc:  # broken shipped content, say: nothing to measure
        sys.stderr.write(f"bench: error: {exc}\n")
        return 3
    finally:
        if old_cache is None:
            os.environ.pop("KB_CACHE_DIR", None)
        else:
            os.environ["KB_CACHE_DIR"] = old_cache
    meta = {"mode": "quick" if args.quick else "full", "python": platform.python_version(),
            "cpus": os.cpu_count(), "load": f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}",
            "seconds": time.perf_counter() - started, "sizes": asdict(sizes)}
    if args.json:
        print(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=2))
    else:
        print("\n".join(render(results, meta)))
    return 0


def _run(chosen: Sequence[str], sizes: Sizes, work: Path) -> list[Result]:
    results: list[Result] = []
    shipped_p50: float | None = None
    os.environ["KB_CACHE_DIR"] = str(work / "cache")  # in-process loads too: never the user's
    for section in SECTIONS:
        if section not in chosen:
            continue
        progress(f"{section} ...")
        if section == "search":
            result = bench_search(sizes, work)
            shipped_p50 = result.figures[0].value / 1000
        elif section == "big":
            spec = Collection("big", sizes.big_entries, texts_every=2, whoosh=True, p50=5,
                              p99=20)
            result = bench_collection(sizes, work, spec, shipped_p50)
            if sizes.big_entries < 10_000:
                result.notes.append(f"--quick: {sizes.big_entries:,} entries, not the "
                                    "target's 10,000")
        elif section == "large":
            spec = Collection("large", LARGE_ENTRIES, texts_every=4, whoosh=False, p50=20,
                              p99=60, build=120, rss=1000, open=300, process=1000)
            result = bench_collection(sizes, work, spec, shipped_p50)
        elif section == "process":
            result = bench_process(sizes, work)
        elif section == "open":
            result = bench_open(sizes, work)
        elif section == "fleet":
            result = bench_fleet(sizes, work)
        else:
            result = bench_diagnose(sizes, work)
        results.append(result)
    return results


if __name__ == "__main__":
    sys.exit(main())
