#!/usr/bin/env python3
"""What one part of a fleet diagnosis costs: the map step and the merge, timed in one process.

    python scripts/partcost.py LOG... [--pieces N]

Plans the parts as ``kb diagnose -j`` does (``kb.fleet.plan``: compressed files whole, big
plain files cut in ``--pieces`` ranges), diagnoses each with ``kb.fleet.diagnose_part``, then
merges the results with ``kb.fleet.merge_results`` and ``finish``, and prints per part its
lines, seconds and the size of its pickled result, then the merge's cost and the peak RSS.
The figures of docs/scale.md come from it, on 20 gzipped files of 50,000 realistic lines
each (``make_log.py --realistic --lines 50000 --seed N``, gzipped; the bench's fleet
section makes the same kind of files).
"""

from __future__ import annotations

import argparse
import pickle
import resource
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kb import KnowledgeBase  # noqa: E402
from kb.fleet import (  # noqa: E402
    Partial,
    PartResult,
    diagnose_part,
    finish,
    merge_results,
    plan,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--pieces", type=int, default=1, help="ranges per big plain file")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    kb = KnowledgeBase.default(semantic=False)
    opened = time.perf_counter() - start
    parts = plan(args.logs, args.pieces)
    results, seconds, lines, sizes = [], [], [], []
    for part in parts:
        start = time.perf_counter()
        result = diagnose_part(kb, part)
        seconds.append(time.perf_counter() - start)
        results.append(result)
        lines.append(result.diagnosis.lines)
        sizes.append(len(pickle.dumps(result)))
    start = time.perf_counter()
    merged: PartResult | Partial = results[0]
    for result in results[1:]:
        merged = merge_results(merged, result)
    diagnosis = finish(merged)
    merging = time.perf_counter() - start
    rates = [n / s for n, s in zip(lines, seconds, strict=True) if s > 0]
    print(f"knowledge base opened in {opened * 1000:.1f} ms; {len(parts)} part(s), "
          f"{diagnosis.lines:,} lines")
    print(f"per part: median {statistics.median(seconds):.3f} s (min {min(seconds):.3f}, max "
          f"{max(seconds):.3f}), median {statistics.median(lines):,.0f} lines, "
          f"{statistics.median(rates):,.0f} lines/s")
    print(f"result pickled: median {statistics.median(sizes) / 1024:.1f} KiB, max "
          f"{max(sizes) / 1024:.1f} KiB")
    merges = max(1, len(results) - 1)
    print(f"{len(results) - 1} merge(s) and finish: {merging * 1000:.1f} ms "
          f"({merging / merges * 1000:.2f} ms a merge)")
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
