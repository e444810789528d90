#!/usr/bin/env python3
"""Ranking quality: kb against a plain whoosh BM25F baseline, on a JSONL set of cases.

    python scripts/eval.py ../shared/eval/dev.jsonl [--kb PATH ...] [--json] [--quiet]

Each case is {"text", "kind": "log"|"question"|"noise", "expected": [ids]}. Per kind it prints
top-1, top-3 and MRR; for noise, the false-positive rate (confident answers that are seed
entries; confident answers from entries beyond the seed are listed apart) and every miss.
A hit is right when its id is expected, or when it is an entry beyond the seed whose see_also
names an expected id. The baseline indexes the same entries with whoosh's StemmingAnalyzer
over title and answer and queries it with the raw text, no log understanding: what a user
would build by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import (  # noqa: E402
    CONFIDENT,  # noqa: E402
    Entry,
    KnowledgeBase,
)

Ranker = Callable[[str], list[tuple[str, float]]]  # text -> [(id, confidence)]


@dataclass
class Case:
    """One evaluation case."""

    text: str
    kind: str
    expected: list[str]


@dataclass
class KindScore:
    """Figures for one kind of case."""

    n: int = 0
    top1: int = 0
    top3: int = 0
    rr: float = 0.0
    misses: list[str] = field(default_factory=list)

    def line(self, kind: str) -> str:
        n = self.n or 1
        return (f"{kind:9s} n={self.n:3d}  top-1 {self.top1 / n:.3f}  top-3 {self.top3 / n:.3f}  "
                f"MRR {self.rr / n:.3f}")


@dataclass
class Report:
    """The result of one evaluation run."""

    kinds: dict[str, KindScore] = field(default_factory=dict)
    noise_n: int = 0
    noise_fp: list[str] = field(default_factory=list)
    noise_beyond: list[str] = field(default_factory=list)

    def rate(self, kind: str, what: str) -> float:
        score = self.kinds.get(kind, KindScore())
        return getattr(score, what) / (score.n or 1) if what != "rr" else score.rr / (score.n or 1)

    @property
    def noise_fp_rate(self) -> float:
        return len(self.noise_fp) / (self.noise_n or 1)


def load_cases(path: Path) -> list[Case]:
    """Cases from a JSONL file."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            cases.append(Case(data["text"], data["kind"], list(data.get("expected", []))))
    return cases


def seed_ids(kb: KnowledgeBase) -> set[str]:
    """Ids named by the shipped required-ids.tsv files (the seed questions)."""
    from kb import default_content_dir

    ids: set[str] = set()
    for table in default_content_dir().rglob("required-ids.tsv"):
        rows = table.read_text(encoding="utf-8").splitlines()[1:]
        ids.update(row.split("\t", 1)[0] for row in rows if row.strip())
    return ids or {e.id for e in kb.entries()}


def evaluate(rank: Ranker, cases: Sequence[Case], entries: Sequence[Entry],
             seeds: set[str], confident: float) -> Report:
    """Run ``rank`` over every case and score it."""
    see_also = {e.id: set(e.see_also) for e in entries}
    report = Report()

    def right(hit_id: str, expected: list[str]) -> bool:
        return hit_id in expected or (hit_id not in seeds and bool(see_also.get(hit_id, set())
                                                                    & set(expected)))

    for case in cases:
        hits = rank(case.text)
        if case.kind == "noise":
            report.noise_n += 1
            if hits and hits[0][1] >= confident:
                target = report.noise_fp if hits[0][0] in seeds else report.noise_beyond
                target.append(f"{hits[0][0]} ({hits[0][1]:.2f}) <- {case.text[:110]!r}")
            continue
        score = report.kinds.setdefault(case.kind, KindScore())
        score.n += 1
        ranks = [i for i, (hid, _) in enumerate(hits, 1) if right(hid, case.expected)]
        first = ranks[0] if ranks else None
        score.top1 += first == 1
        score.top3 += first is not None and first <= 3
        score.rr += 1 / first if first else 0.0
        if first != 1:
            got = ", ".join(f"{h} {c:.2f}" for h, c in hits[:3]) or "nothing"
            score.misses.append(f"want {case.expected} got [{got}] <- {case.text[:110]!r}")
    return report


def baseline_ranker(entries: Sequence[Entry]) -> Ranker:
    """Plain whoosh BM25F over title + answer, raw text through StemmingAnalyzer, no parsing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from whoosh import scoring
        from whoosh.analysis import StemmingAnalyzer
        from whoosh.fields import ID, TEXT, Schema
        from whoosh.filedb.filestore import RamStorage
        from whoosh.query import Or, Term

    analyzer = StemmingAnalyzer()
    schema = Schema(id=ID(stored=True), title=TEXT(analyzer=analyzer, field_boost=2.0),
                    answer=TEXT(analyzer=analyzer))
    ix = RamStorage().create_index(schema)
    writer = ix.writer()
    for entry in entries:
        writer.add_document(id=entry.id, title=entry.title, answer=entry.answer)
    writer.commit()
    searcher = ix.searcher(weighting=scoring.BM25F())

    def rank(text: str) -> list[tuple[str, float]]:
        terms = {t.text for t in analyzer(text)}
        query = Or([Term(f, t) for t in terms for f in ("title", "answer")])
        return [(hit["id"], 1.0) for hit in searcher.search(query, limit=5)]

    return rank


def kb_ranker(kb: KnowledgeBase) -> Ranker:
    """kb's own ranking."""
    return lambda text: [(h.entry.id, h.confidence) for h in kb.search(text, limit=5)]


def print_report(title: str, report: Report, out: Callable[[str], None], misses: bool) -> None:
    out(f"== {title}")
    for kind in sorted(report.kinds):
        out("  " + report.kinds[kind].line(kind))
    out(f"  noise     n={report.noise_n:3d}  false positives {report.noise_fp_rate:.3f} "
        f"({len(report.noise_fp)})  beyond-seed answers {len(report.noise_beyond)}")
    if not misses:
        return
    for kind in sorted(report.kinds):
        for miss in report.kinds[kind].misses:
            out(f"  miss [{kind}] {miss}")
    for fp in report.noise_fp:
        out(f"  noise FP {fp}")
    for other in report.noise_beyond:
        out(f"  noise, beyond-seed answer (not counted) {other}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", type=Path)
    parser.add_argument("--kb", action="append", default=[],
                        help="content paths (default: shipped)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="figures only, no misses")
    args = parser.parse_args(argv)
    kb = KnowledgeBase.from_paths(args.kb) if args.kb else KnowledgeBase.default()
    cases = load_cases(args.cases)
    seeds = seed_ids(kb)
    ours = evaluate(kb_ranker(kb), cases, kb.entries(), seeds, CONFIDENT)
    print_report(f"kb ({len(kb)} entries, {len(cases)} cases)", ours, print, not args.quiet)
    if not args.no_baseline:
        base = evaluate(baseline_ranker(kb.entries()), cases, kb.entries(), seeds, 0.0)
        print_report("baseline: plain whoosh BM25F, no log understanding "
                     "(noise FP = any answer)", base, print, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
