"""The log pipe as a Dask map/reduce: ``pip install 'kb[dask]'``.

    from kb.dask import diagnose
    diagnosis = diagnose(["/logs/web*/error.log*", "s3://bucket/fleet/*.gz"], content=["faq/"])

Local paths and globs are planned like ``kb diagnose -j`` (whole files; big plain files in
ranges, kb.fleet), every other fsspec URL Dask can read (s3://, gcs://, http(s)://, gzip
included) is one part per file. Each part is diagnosed where it runs (``kb.fleet.diagnose_part``)
and the diagnoses are combined with the associative merge, in a tree (``Bag.reduction`` with
kb.fleet.merge_results; the same step serves Spark's ``treeReduce``, docs/scale.md).

The knowledge base travels to the workers once, by its content key: a task carries only the
content paths and cache directory, and each worker process loads that knowledge base once from
its own cache (``kb.fleet.load``, remembered per process), so nothing big is pickled per task.
The content paths must be readable on the workers (a shared folder, or the same files on every
host); with a KnowledgeBase object instead, it is scattered to every worker once
(``Client.scatter(..., broadcast=True)``).
"""

from __future__ import annotations

import glob
from collections.abc import Iterable, Sequence
from functools import partial, reduce
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.fleet import (
    SPLIT_ABOVE,
    Options,
    Part,
    Partial,
    PartResult,
    diagnose_part,
    finish,
    load,
    merge_results,
    plan,
)

if TYPE_CHECKING:
    from kb.diagnose import Diagnosis
    from kb.knowledgebase import KnowledgeBase


def parts_of(patterns: Iterable[str], pieces: int = 1, split_above: int = SPLIT_ABOVE
             ) -> list[Part]:
    """The parts of local files and globs (ranges of big plain files) and of other URLs."""
    local: list[str] = []
    remote: list[Part] = []
    for pattern in patterns:
        if "://" in pattern and not pattern.startswith("file://"):
            remote.extend(Part(url, url) for url in _expand_remote(pattern))
            continue
        path = pattern.removeprefix("file://")
        matches = sorted(glob.glob(path)) if glob.has_magic(path) else [path]
        local.extend(matches)
    return plan(local, pieces, split_above=split_above) + remote


def _expand_remote(pattern: str) -> list[str]:
    import fsspec

    if not glob.has_magic(pattern):
        return [pattern]
    fs, _, paths = fsspec.get_fs_token_paths(pattern)
    protocol = pattern.split("://", 1)[0]
    return sorted(f"{protocol}://{p}" if "://" not in p else p for p in paths)


def _diagnose(part: Part, spec: Any, options: Options) -> PartResult:
    """One task: the part, with the worker's knowledge base (loaded once per process)."""
    from kb.fleet import _worker_kb

    kb = spec if not isinstance(spec, partial) else _worker_kb(spec)
    if Path(part.path).exists() or "://" not in part.path:
        return diagnose_part(kb, part, options)
    return _diagnose_url(kb, part, options)


def _diagnose_url(kb: KnowledgeBase, part: Part, options: Options) -> PartResult:
    """A whole remote file, read through fsspec (compression by name, as Dask does)."""
    import fsspec

    diagnoser = kb.diagnoser(collect_unmatched=options.collect_unmatched, source=part.source,
                             since=options.since)
    with fsspec.open(part.path, "rb", compression="infer") as handle:
        while block := handle.read(1 << 20):
            diagnoser.feed_bytes(block)
    diagnoser.flush()
    return PartResult(part, diagnoser.result())


def diagnose(paths_or_bag: Sequence[str] | Any, *, content: Sequence[str | Path] | None = None,
             kb: KnowledgeBase | None = None, cache_dir: str | Path | None = None,
             pieces: int = 1, split_above: int = SPLIT_ABOVE, collect_unmatched: bool = False,
             since: str = "", scheduler: str | None = None) -> Diagnosis:
    """Diagnose a fleet's logs on Dask: ``paths_or_bag`` is a list of paths, globs and URLs,
    or a ``dask.bag`` of them. ``content`` (FAQ paths; default: the shipped FAQ) or ``kb``
    says which knowledge base; ``pieces`` cuts plain files bigger than ``split_above``
    bytes into that many ranges;
    ``scheduler`` is passed to ``compute`` (None: the active client or Dask's default)."""
    import dask.bag as db

    if kb is not None:
        spec: Any = _scattered(kb)
    else:
        from kb.knowledgebase import default_content_dir

        chosen = [str(p) for p in content] if content else [str(default_content_dir())]
        spec = partial(load, chosen, str(cache_dir) if cache_dir is not None else None)
    options = Options(collect_unmatched=collect_unmatched, since=since)
    if isinstance(paths_or_bag, db.Bag):
        bag = paths_or_bag.map(lambda p: parts_of([p], pieces, split_above)).flatten()
    else:
        parts = parts_of(paths_or_bag, pieces, split_above)
        bag = db.from_sequence(parts, npartitions=max(1, len(parts)))
    results = bag.map(_diagnose, spec, options)
    merged = results.reduction(_merge_all, _merge_all, split_every=8)
    done = merged.compute(scheduler=scheduler) if scheduler else merged.compute()
    if isinstance(done, Partial) and done.whole is None and not done.ranges:
        raise ValueError("no logs to diagnose")
    return finish(done)


def _merge_all(items: Iterable[PartResult | Partial]) -> Partial:
    """One node of the reduction tree (kb.fleet.merge_results over its inputs)."""
    return reduce(merge_results, items, Partial(None, []))


def _scattered(kb: KnowledgeBase) -> Any:
    try:
        from distributed import get_client

        return get_client().scatter(kb, broadcast=True)
    except (ImportError, ValueError):  # no distributed client: the object itself
        return kb
