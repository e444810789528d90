"""Diagnosing many logs, or one big log, in parts: on all local cores, or as the map step of an
engine such as Dask (kb.dask) or Spark.

A *part* is a whole file or, for a big plain file, a byte range of it cut at line boundaries.
Each part is diagnosed on its own (``diagnose_part``: a pure function of the knowledge base
and the part, so it runs in any worker process) and the diagnoses are merged
(``Diagnosis.merge``: associative and commutative), after shifting a range's line numbers by
the lines of the ranges before it (``combine``).

A range gives the same problems as reading the whole file, because an episode (the lines of
one connection or start-up) is counted by the part it *begins* in: before its range a part
reads up to LOOKBACK bytes to learn which processes are in the middle of an episode (those
lines count nothing), and after its range it reads on until its own episodes have ended
(lines of other processes are left to the next part). This is exact while no process keeps an
episode open across more than LOOKBACK bytes (an episode ends after 64 lines of its own or
64 lines of silence: about 4,096 lines, under 1 MB of a typical log; LOOKBACK is 4 MiB).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from kb.errors import LogInputError
from kb.logfiles import BLOCK, is_compressed, open_log, read_blocks

if TYPE_CHECKING:
    import multiprocessing.context
    from typing import IO

    from kb.diagnose import Diagnosis
    from kb.knowledgebase import KnowledgeBase

SPLIT_ABOVE = 32 << 20  # plain files bigger than this are cut into ranges
LOOKBACK = 4 << 20  # bytes read before a range to learn the episodes running into it


@dataclass(frozen=True)
class Part:
    """A file, or the byte range [start, end) of a plain file (end None: to its end)."""

    path: str
    source: str  # the name its problems carry
    index: int = 0  # its place among the parts of its file
    start: int = 0
    end: int | None = None

    @property
    def whole(self) -> bool:
        """True for a whole file."""
        return self.start == 0 and self.end is None


@dataclass(frozen=True)
class Options:
    """What every part is diagnosed with."""

    collect_unmatched: bool = False
    since: str = ""


@dataclass
class PartResult:
    """A part's diagnosis (line numbers from 1 at the part's start) and how many lines it has."""

    part: Part
    diagnosis: Diagnosis


def plan(paths: Sequence[str | Path], pieces: int, *, sources: Sequence[str] | None = None,
         split_above: int = SPLIT_ABOVE) -> list[Part]:
    """The parts of these files: big plain files in up to ``pieces`` ranges each, at line
    boundaries; every other file whole."""
    parts: list[Part] = []
    for number, path in enumerate(paths):
        name = str(path) if sources is None else sources[number]
        size = _size(Path(path))
        if pieces <= 1 or size <= split_above or is_compressed(Path(path)):
            parts.append(Part(str(path), name))
            continue
        cuts = _cuts(Path(path), size, pieces)
        for index, (start, end) in enumerate(zip(cuts, cuts[1:] + [None], strict=True)):
            parts.append(Part(str(path), name, index, start, end))
    return parts


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else 0
    except OSError:
        return 0


def _cuts(path: Path, size: int, pieces: int) -> list[int]:
    """Range starts: 0 and the first line start after each even cut point."""
    starts = [0]
    with path.open("rb") as handle:
        for k in range(1, pieces):
            position = _after_line(handle, size * k // pieces)
            if starts[-1] < position < size:
                starts.append(position)
    return starts


def _after_line(handle: IO[bytes], offset: int) -> int:
    """Where the line that ``offset`` falls in ends (after its newline; the file's end if it
    has none), read a block at a time: a 200 MB line is never held (readline held it)."""
    handle.seek(offset)
    position = offset
    while block := handle.read(BLOCK):
        newline = block.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(block)
    return position


def diagnose_part(kb: KnowledgeBase, part: Part, options: Options = Options()) -> PartResult:
    """Diagnose one part (a whole file or a range of one)."""
    if part.whole:
        diagnoser = kb.diagnoser(collect_unmatched=options.collect_unmatched,
                                 source=part.source, since=options.since)
        with open_log(Path(part.path)) as handle:
            for block in read_blocks(handle, part.source):
                diagnoser.feed_bytes(block)
        diagnoser.flush()
        return PartResult(part, diagnoser.result())
    return PartResult(part, _diagnose_range(kb, part, options))


def _diagnose_range(kb: KnowledgeBase, part: Part, options: Options) -> Diagnosis:
    with Path(part.path).open("rb") as handle:
        warm = b""
        if part.start:
            begin = max(0, part.start - LOOKBACK)
            handle.seek(begin)
            warm = handle.read(part.start - begin)
            if begin:
                warm = warm[warm.find(b"\n") + 1 :]  # from a line start
        diagnoser = kb.diagnoser(collect_unmatched=options.collect_unmatched,
                                 source=part.source, since=options.since,
                                 first_line=1 - warm.count(b"\n"))
        diagnoser.phase = "warm"
        diagnoser.feed_bytes(warm)
        diagnoser.phase = "count"
        handle.seek(part.start)
        left = None if part.end is None else part.end - part.start
        while left is None or left > 0:
            block = handle.read(BLOCK if left is None else min(BLOCK, left))
            if not block:  # the end of the file: its last line, newline or not, is ours
                diagnoser.flush()
                return diagnoser.result()
            if left is not None:
                left -= len(block)
            diagnoser.feed_bytes(block)
        diagnoser.phase = "drain"
        while diagnoser.owns_open_episodes():
            block = handle.read(BLOCK)
            if not block:
                break
            diagnoser.feed_bytes(block)
        diagnoser.flush()
        return diagnoser.result()


def combine(results: Iterable[PartResult]) -> Diagnosis:
    """One diagnosis of all parts: ranges shifted by the lines before them, then merged."""
    ordered = sorted(results, key=lambda r: (r.part.path, r.part.index))
    merged: Diagnosis | None = None
    offset, path = 0, None
    for result in ordered:
        if result.part.path != path:
            offset, path = 0, result.part.path
        shifted = result.diagnosis.shifted(offset) if offset else result.diagnosis
        offset += result.diagnosis.lines
        merged = shifted if merged is None else merged + shifted
    if merged is None:
        raise ValueError("no parts to combine")
    return merged


@dataclass
class Partial:
    """Results merged so far in a tree (a reduction of Dask, Spark's ``treeReduce``): whole
    files already merged into one diagnosis; the ranges of big files kept apart until the end,
    where their line numbers are shifted (``finish``)."""

    whole: Diagnosis | None
    ranges: list[PartResult]


def merge_results(a: PartResult | Partial, b: PartResult | Partial) -> Partial:
    """The associative, commutative step of a tree reduction over part results."""
    left, right = _partial(a), _partial(b)
    if left.whole is None or right.whole is None:
        whole = left.whole if right.whole is None else right.whole
    else:
        whole = left.whole + right.whole
    return Partial(whole, left.ranges + right.ranges)


def _partial(item: PartResult | Partial) -> Partial:
    if isinstance(item, Partial):
        return item
    return Partial(item.diagnosis, []) if item.part.whole else Partial(None, [item])


def finish(merged: PartResult | Partial) -> Diagnosis:
    """The diagnosis of a finished reduction."""
    done = _partial(merged)
    if done.ranges:
        ranges = combine(done.ranges)
        return ranges if done.whole is None else done.whole + ranges
    if done.whole is None:
        raise ValueError("no parts to combine")
    return done.whole


# -- all local cores ----------------------------------------------------------------------------

KbFactory = Callable[[], "KnowledgeBase"]


def load(paths: Sequence[str], cache_dir: str | None) -> KnowledgeBase:
    """A knowledge base from content paths (the picklable way a worker makes one)."""
    from kb.knowledgebase import KnowledgeBase

    return KnowledgeBase.from_paths([Path(p) for p in paths], cache_dir=cache_dir)


_WORKER_KBS: dict[object, KnowledgeBase] = {}  # this process's knowledge bases, by factory value
WORKER_KBS = 2  # a worker serves one knowledge base (two while a job changes content)


def _worker_kb(factory: KbFactory) -> KnowledgeBase:
    """The knowledge base of a worker process, loaded once per process (from its cache).

    Every task brings its own unpickled copy of the factory, so they are told apart by value
    (a ``functools.partial``'s function and arguments), not by identity."""
    key = _factory_key(factory)
    known = _WORKER_KBS.get(key)
    if known is None:
        if len(_WORKER_KBS) >= WORKER_KBS:
            _WORKER_KBS.pop(next(iter(_WORKER_KBS)))
        known = _WORKER_KBS[key] = factory()
    return known


def _factory_key(factory: KbFactory) -> object:
    if isinstance(factory, partial):
        return (_factory_key(factory.func), _hashable(factory.args),
                _hashable(sorted(factory.keywords.items())))
    return (getattr(factory, "__module__", ""), getattr(factory, "__qualname__", ""), factory)


def _hashable(value: object) -> object:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _work(factory: KbFactory, part: Part, options: Options) -> PartResult | str:
    try:
        return diagnose_part(_worker_kb(factory), part, options)
    except LogInputError as exc:  # reported by the caller, like an unreadable file alone
        return str(exc)


def diagnose_parallel(factory: KbFactory, parts: Sequence[Part], jobs: int,
                      options: Options = Options()) -> tuple[Diagnosis | None, list[str]]:
    """Every part diagnosed in ``jobs`` worker processes, then combined; and the errors of
    the parts that could not be read. ``factory`` makes the knowledge base: it is pickled to
    the workers (a module-level function or a functools.partial of one such as ``load``)
    and called once per worker process (told apart by value: see _worker_kb); forked workers
    (Linux) inherit the parent's, loaded here first."""
    _worker_kb(factory)
    if jobs <= 1 or len(parts) <= 1:
        outcomes = [_work(factory, part, options) for part in parts]
    else:
        # (imported here: multiprocessing costs every diagnose process ~15 ms to import)
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(jobs, len(parts)),
                                 mp_context=_start_method()) as pool:
            futures = [pool.submit(_work, factory, part, options) for part in parts]
            outcomes = [future.result() for future in futures]
    results = [o for o in outcomes if isinstance(o, PartResult)]
    errors = [o for o in outcomes if isinstance(o, str)]
    return (combine(results) if results else None), errors


def _start_method() -> multiprocessing.context.BaseContext:
    """fork on Linux while this process has one thread (workers start at once, with the
    knowledge base loaded here); spawn otherwise (forking a threaded process can deadlock)."""
    import multiprocessing  # (here: it costs every diagnose process ~15 ms to import)

    if sys.platform == "linux" and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


PARALLEL_ABOVE = 16 << 20  # bytes of log text below which worker processes cost more than they save
PACKED_RATIO = 8  # a compressed log holds about this many times its size in text


def default_jobs(paths: Sequence[str | Path]) -> int:
    """The number of cores when there is enough to share: several files or one plain file that
    will be cut (over SPLIT_ABOVE), holding over PARALLEL_ABOVE bytes of text together
    (compressed files count PACKED_RATIO times their size); else 1."""
    cores = os.cpu_count() or 1
    sizes = [(_size(Path(p)), _packed(Path(p))) for p in paths]
    text = sum(size * (PACKED_RATIO if packed else 1) for size, packed in sizes)
    if text <= PARALLEL_ABOVE:
        return 1
    if len(paths) > 1 or (sizes and sizes[0][0] > SPLIT_ABOVE and not sizes[0][1]):
        return cores
    return 1


def _packed(path: Path) -> bool:
    try:
        return path.is_file() and is_compressed(path)
    except OSError:
        return False
