#!/usr/bin/env python3
"""Ranking quality: kb against a plain whoosh BM25F baseline, on a JSONL set of cases.

    python scripts/eval.py ../shared/eval/dev.jsonl [--kb PATH ...] [--quiet]
    python scripts/eval.py eval/foreign.jsonl [--faqs DIR] [--with-default] [--quiet]

Each case is {"text", "kind": "log"|"question"|"noise", "expected": [ids]}. Per kind it prints
top-1, top-3 and MRR; for noise, the false-positive rate (confident answers that are seed
entries; confident answers from entries beyond the seed are listed apart); how often a
confident answer (confidence >= 0.5) is right; and every miss. A hit is right when its id is
expected, or when it is an entry beyond the seed whose see_also names an expected id. The
baseline indexes the same entries with whoosh's StemmingAnalyzer over title and answer and
queries it with the raw text, no log understanding: what a user would build by hand.

A foreign case set (cases with a "faq" key: eval/foreign.jsonl) names a FAQ file of another
project (read from ``--faqs``, default ../shared/faqs, never copied into this repository) and
labels each case with the heading texts of the entries that answer it; "unanswerable" cases
count like noise. Each FAQ is loaded alone (with ``--with-default``: beside the shipped FAQ,
where a shipped entry is never right) and kb is compared with whoosh BM25F and bm25s (Lucene
BM25 over title + answer, ``pip install 'kb[eval]'``) on the same entries.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import (  # noqa: E402
    CONFIDENT,  # noqa: E402
    ContentError,
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
    faq: str = ""


@dataclass
class KindScore:
    """Figures for one kind of case."""

    n: int = 0
    top1: int = 0
    top3: int = 0
    rr: float = 0.0
    confident: int = 0  # cases whose top hit is confident
    confident_right: int = 0  # ... and right
    misses: list[str] = field(default_factory=list)

    def line(self, kind: str) -> str:
        n = self.n or 1
        return (f"{kind:9s} n={self.n:3d}  top-1 {self.top1 / n:.3f}  top-3 {self.top3 / n:.3f}  "
                f"MRR {self.rr / n:.3f}  confident {self.confident / n:.3f} "
                f"(right {self.confident_right / (self.confident or 1):.3f})")

    def add(self, other: KindScore) -> None:
        """Pool ``other``'s counts into this one."""
        self.n += other.n
        self.top1 += other.top1
        self.top3 += other.top3
        self.rr += other.rr
        self.confident += other.confident
        self.confident_right += other.confident_right
        self.misses += other.misses


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

    @property
    def cases(self) -> int:
        return self.noise_n + sum(k.n for k in self.kinds.values())

    @property
    def confident_wrong(self) -> int:
        """Confident answers that are wrong: answerable cases and noise together."""
        wrong = sum(k.confident - k.confident_right for k in self.kinds.values())
        return wrong + len(self.noise_fp) + len(self.noise_beyond)

    @property
    def confident_wrong_rate(self) -> float:
        return self.confident_wrong / (self.cases or 1)

    @property
    def confident_precision(self) -> float:
        """How often a confident answer is right (1.0 when nothing is confident)."""
        right = sum(k.confident_right for k in self.kinds.values())
        return right / ((right + self.confident_wrong) or 1)

    def add(self, other: Report) -> None:
        """Pool ``other`` into this report."""
        for kind, score in other.kinds.items():
            self.kinds.setdefault(kind, KindScore()).add(score)
        self.noise_n += other.noise_n
        self.noise_fp += other.noise_fp
        self.noise_beyond += other.noise_beyond


def load_cases(path: Path) -> list[Case]:
    """Cases from a JSONL file."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            data = json.loads(line)
            kind = "noise" if data["kind"] == "unanswerable" else data["kind"]
            cases.append(Case(data["text"], kind, list(data.get("expected", [])),
                              data.get("faq", "")))
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
        if hits and hits[0][1] >= confident:
            score.confident += 1
            score.confident_right += first == 1
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


def bm25s_ranker(entries: Sequence[Entry]) -> Ranker | None:
    """bm25s (Lucene BM25, English stop words, no stemmer) over title + answer; None when
    bm25s is not installed."""
    try:
        import bm25s
    except ImportError:
        return None
    if not entries:
        return lambda text: []
    corpus = [f"{e.title}\n{e.answer}" for e in entries]
    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(corpus, stopwords="en", show_progress=False),
                    show_progress=False)
    ids = [e.id for e in entries]

    def rank(text: str) -> list[tuple[str, float]]:
        tokens = bm25s.tokenize([text], stopwords="en", show_progress=False)
        if not tokens.vocab:
            return []
        k = min(5, len(ids))
        docs, scores = retriever.retrieve(tokens, k=k, show_progress=False)
        return [(ids[int(d)], 1.0) for d, sc in zip(docs[0], scores[0], strict=True) if sc > 0]

    return rank


def kb_ranker(kb: KnowledgeBase) -> Ranker:
    """kb's own ranking."""
    return lambda text: [(h.entry.id, h.confidence) for h in kb.search(text, limit=5)]


# -- foreign FAQs (eval/foreign.jsonl) ----------------------------------------------------

FAQS = ROOT.parent / "shared" / "faqs"
_TAG = re.compile(r"<[^>]*>")


def heading_key(text: str, tags: bool = True) -> str:
    """A heading text reduced to its words, to match a label with an entry title (labels
    keep Markdown as written; titles have markup stripped)."""
    text = html.unescape(text if tags else _TAG.sub(" ", text))
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


def label_ids(entries: Sequence[Entry], labels: Sequence[str]) -> list[str]:
    """The ids of the entries whose title is one of the heading texts ``labels``."""
    found: list[str] = []
    for tags in (True, False):
        keys = {heading_key(label, tags) for label in labels}
        found = [e.id for e in entries if heading_key(e.title, tags) in keys]
        if found:
            break
    return found


def _semantic(choice: str) -> bool | None:
    return {"auto": None, "on": True, "off": False}[choice]


def foreign_reports(cases: Sequence[Case], faqs: Path, with_default: bool,
                    baselines: bool, semantic: bool | None = None
                    ) -> tuple[dict[str, dict[str, Report]], list[str]]:
    """{system: {faq file: report}} and the labels that match no entry."""
    from kb import default_content_dir

    reports: dict[str, dict[str, Report]] = {}
    unmatched: list[str] = []
    for faq in sorted({c.faq for c in cases}):
        mine = [c for c in cases if c.faq == faq]
        paths = ([default_content_dir()] if with_default else []) + [faqs / faq]
        try:
            kb = KnowledgeBase.from_paths(paths, semantic=semantic)
        except ContentError as exc:  # counted as answering nothing
            print(f"kb refused {faq}: {exc.problems[0]}")
            kb = KnowledgeBase.from_entries([])
        own = [e for e in kb.entries() if Path(e.source.file).name == faq]
        resolved = []
        for case in mine:
            ids = label_ids(own, case.expected)
            if case.expected and not ids:
                unmatched.append(f"{faq}: {case.expected}")
            resolved.append(Case(case.text, case.kind, ids or ["<no such entry>"], faq)
                            if case.kind != "noise" else case)
        seeds = {e.id for e in kb.entries()}
        systems: dict[str, Ranker | None] = {"kb" + (" + semantic" if kb.semantic else ""):
                                             kb_ranker(kb)}
        if baselines:
            systems["whoosh BM25F"] = baseline_ranker(own)
            systems["bm25s"] = bm25s_ranker(own)
        for name, ranker in systems.items():
            if ranker is not None:
                conf = CONFIDENT if name.startswith("kb") else 0.0
                reports.setdefault(name, {})[faq] = evaluate(ranker, resolved, kb.entries(),
                                                             seeds, conf)
    return reports, unmatched


def print_foreign(reports: dict[str, dict[str, Report]], unmatched: list[str],
                  out: Callable[[str], None], misses: bool) -> None:
    """Per FAQ and pooled figures of every system."""
    for name, per_faq in reports.items():
        pooled = Report()
        out(f"== {name}: answerable questions and logs together, per FAQ")
        for faq, report in per_faq.items():
            pooled.add(report)
            both = _answerable(report)
            out(f"  {faq:22s} n={both.n:3d}  top-1 {both.top1 / (both.n or 1):.3f}  "
                f"top-3 {both.top3 / (both.n or 1):.3f}  MRR {both.rr / (both.n or 1):.3f}"
                + (f"  confident-wrong {report.confident_wrong_rate:.3f}"
                   if name.startswith("kb") else ""))
        print_report(f"{name}: pooled over {len(per_faq)} FAQs", pooled, out,
                     misses and name.startswith("kb"))
        both = _answerable(pooled)
        out(f"  answerable n={both.n:3d}  top-1 {both.top1 / (both.n or 1):.3f}  "
            f"top-3 {both.top3 / (both.n or 1):.3f}  MRR {both.rr / (both.n or 1):.3f}")
    if "whoosh BM25F" in reports and "bm25s" not in reports:
        out("  (bm25s not installed: pip install 'kb[eval]')")
    for label, count in Counter(unmatched).items():
        out(f"  label matches no entry ({count} cases): {label}")


def diagnose_line(kb: KnowledgeBase, cases: Sequence[Case]) -> str:
    """What the log pipe makes of the cases, each fed to ``kb.diagnose`` as its lines: for log
    cases whose right answer ``search`` gives confidently at top-1, how often a reported
    problem is that entry (diagnose recall); for noise, how often any problem is reported."""
    recall = base = noise = reported = 0
    for case in cases:
        if case.kind == "noise":
            noise += 1
            reported += bool(kb.diagnose(case.text.splitlines()).problems)
        elif case.kind == "log":
            hits = kb.search(case.text, limit=1)
            if hits and hits[0].entry.id in case.expected and hits[0].confidence >= CONFIDENT:
                base += 1
                found = {p.record.id for p in kb.diagnose(case.text.splitlines()).problems}
                recall += bool(found & set(case.expected))
    return (f"  diagnose  recall {recall}/{base} ({recall / (base or 1):.3f}) of the log cases "
            f"search answers right and confidently; noise with a problem reported "
            f"{reported}/{noise} ({reported / (noise or 1):.3f})")


def _answerable(report: Report) -> KindScore:
    both = KindScore()
    for score in report.kinds.values():
        both.add(score)
    return both


def print_report(title: str, report: Report, out: Callable[[str], None], misses: bool) -> None:
    out(f"== {title}")
    for kind in sorted(report.kinds):
        out("  " + report.kinds[kind].line(kind))
    out(f"  noise     n={report.noise_n:3d}  false positives {report.noise_fp_rate:.3f} "
        f"({len(report.noise_fp)})  beyond-seed answers {len(report.noise_beyond)}")
    out(f"  confident answers right {report.confident_precision:.3f}, confident and wrong "
        f"{report.confident_wrong_rate:.3f} of all {report.cases} cases")
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
    parser.add_argument("--faqs", type=Path, default=FAQS,
                        help="folder of the foreign FAQ files (foreign case sets)")
    parser.add_argument("--semantic", choices=("auto", "on", "off"), default="auto",
                        help="blend in the semantic extra: when installed (auto), or not")
    parser.add_argument("--with-default", action="store_true",
                        help="foreign case sets: load each FAQ beside the shipped FAQ")
    args = parser.parse_args(argv)
    cases = load_cases(args.cases)
    if any(c.faq for c in cases):
        if not args.faqs.is_dir():
            print(f"skipped: the foreign FAQs are not at {args.faqs} (--faqs DIR)")
            return 0
        reports, unmatched = foreign_reports(cases, args.faqs, args.with_default,
                                             not args.no_baseline, _semantic(args.semantic))
        print_foreign(reports, unmatched, print, not args.quiet)
        return 0
    semantic = _semantic(args.semantic)
    kb = (KnowledgeBase.from_paths(args.kb, semantic=semantic) if args.kb
          else KnowledgeBase.default(semantic=semantic))
    seeds = seed_ids(kb)
    ours = evaluate(kb_ranker(kb), cases, kb.entries(), seeds, CONFIDENT)
    extra = ", semantic" if kb.semantic else ""
    print_report(f"kb ({len(kb)} entries{extra}, {len(cases)} cases)", ours, print,
                 not args.quiet)
    print(diagnose_line(kb, cases))
    if not args.no_baseline:
        base = evaluate(baseline_ranker(kb.entries()), cases, kb.entries(), seeds, 0.0)
        print_report("baseline: plain whoosh BM25F, no log understanding "
                     "(noise FP = any answer)", base, print, False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
