#!/usr/bin/env python3
"""kb's log pipe on Apache Spark: the parts of the logs as an RDD, ``mapPartitions`` diagnoses
them where they run, ``treeReduce`` merges the results (kb.fleet.merge_results, the step
kb.dask uses too). docs/scale.md explains it.

    pip install pyspark          # and a Java runtime
    python examples/spark_diagnose.py [--master local[2]] [--content FAQ ...] LOG ...

Prints the problems as kb's NDJSON (what ``kb diagnose --json LOG ...`` prints). Paths must
be readable by every executor (a shared file system); the content too.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from kb import fleet
from kb.knowledgebase import default_content_dir

if TYPE_CHECKING:
    from kb.diagnose import Diagnosis


def diagnose(paths: list[str], content: list[str], master: str, pieces: int,
             split_above: int = fleet.SPLIT_ABOVE) -> Diagnosis:
    """The kb.diagnose.Diagnosis of these logs, computed on Spark."""
    from pyspark import SparkConf, SparkContext

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this Python (and kb)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # a local run stays on loopback
    parts = fleet.plan(paths, pieces, split_above=split_above)
    factory = partial(fleet.load, content, None)
    conf = SparkConf().setMaster(master).setAppName("kb-diagnose")
    conf.set("spark.ui.enabled", "false").set("spark.driver.host", "127.0.0.1")
    context = SparkContext.getOrCreate(conf)
    try:
        def run(items: Iterator[fleet.Part]) -> Iterator[fleet.PartResult]:
            kb = fleet._worker_kb(factory)  # once per Python worker, from its index cache
            for part in items:
                yield fleet.diagnose_part(kb, part)

        rdd = context.parallelize(parts, len(parts))
        merged = rdd.mapPartitions(run).treeReduce(fleet.merge_results, depth=2)
        return fleet.finish(merged)
    finally:
        context.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("logs", nargs="+", metavar="LOG")
    p.add_argument("--master", default="local[2]", help="Spark master (default local[2])")
    p.add_argument("--content", nargs="+", default=[str(default_content_dir())],
                   help="FAQ files or folders (default: the shipped FAQ)")
    p.add_argument("--pieces", type=int, default=2,
                   help="ranges per big plain file (default 2)")
    p.add_argument("--split-above", type=int, default=fleet.SPLIT_ABOVE,
                   help="plain files bigger than this many bytes are cut (default 32 MiB)")
    args = p.parse_args(argv)
    from frontends.render import dumps
    from frontends.report import problem_json, summary_json

    result = diagnose([str(Path(x)) for x in args.logs], args.content, args.master,
                      args.pieces, args.split_above)
    for problem in result.problems:
        print(dumps(problem_json(problem)))
    print(dumps(summary_json(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
