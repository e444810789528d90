"""Query building, scoring, confidence and explanation.

A query is built from a parse apart from running it (``build_query`` / ``run``) so ``kb
explain`` can show it, and so the log pipe, which has parsed each line already, never parses
it again. Score = exact signals (signature > AH code > OpenSSL reason) + BM25F over the
analysed text. Confidence maps that to 0..1: exact signals give high confidence; text alone
gives confidence by how much of the query's weight the entry covers, lowered for log lines (an
unexplained log line is usually noise) and capped where the line itself says it is routine.
Every number is in kb.weights.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kb.bm25 import Contribution, Match, QueryTerm, TextIndex
from kb.logline import (
    QUIET_LEVELS,
    Kind,
    Parsed,
    is_keywords,
    looks_like_output,
    says_what_is_wrong,
)
from kb.masks import PLACEHOLDER_RE, UNQUOTED, mask_whole
from kb.records import EntryRecord, EntryStore, HitRecord, SignalWhy, TermWhy, Why
from kb.signals import SignalHit, SignalKind, Signals
from kb.text import analyze
from kb.weights import WEIGHTS

if TYPE_CHECKING:
    from kb.model import Hit

MAX_QUERY_CHARS = 100_000
REFERENCE_SAMPLE = 24  # other collections' titles asked per collection for its noise level
WORD_COUNTS = 4096  # words whose per-collection counts a merged searcher remembers
NAME_MIN_CHARS = 4  # a shorter word of a collection's name ("dl", "faq") names nothing
_AH_TERM = re.compile(r"^ah\d{5}$")


@dataclass
class Query:
    """What will be run: the parsed input, text terms and exact signals."""

    parsed: Parsed
    terms: list[QueryTerm]
    signals: list[SignalHit]
    caps: list[tuple[str, float]] = field(default_factory=list)
    # The weight of the query's words that no entry has: unexplained by every hit.
    unknown: float = 0.0
    # One query per collection when several are searched side by side (MergedSearcher).
    parts: list[Query] = field(default_factory=list)
    # The numbers of the signals that only lines reporting an outcome gave, in an excerpt
    # whose other lines give signals too (Signals.context): they count as context.
    context: frozenset[int] = frozenset()

    def key(self) -> Hashable:
        """Everything ``run`` reads: two queries with one key give the same hits."""
        signals = tuple(h.number for h in self.signals)
        if self.parts:
            return tuple(part.key() for part in self.parts)
        return (self.parsed.kind, tuple(self.terms), signals, tuple(self.caps),
                round(self.unknown, 6), tuple(sorted(self.context)))

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready view for ``kb explain``."""
        return {
            "kind": self.parsed.kind.value,
            "codes": self.parsed.ah_codes,
            "reasons": self.parsed.reasons,
            "terms": sorted({t.term for t in self.terms}),
            "fields": sorted({t.field for t in self.terms}),
            "caps": [{"why": why, "max": cap} for why, cap in self.caps],
        }


def text_for_terms(parsed: Parsed) -> str:
    """The words a query searches for: templates without placeholders, plus decoded reasons;
    a question is searched by its own words. A statement in words (Kind.TEXT) keeps the words
    of its quoted values: they are what it is about ("apachectl graceful fails with error:
    'mod_http2.so: undefined symbol: EVP_MD_CTX_new'"), where a log line's quoted values are
    its variables (file names, hosts); numbers, paths and hosts in them are masked still."""
    if parsed.kind is Kind.QUESTION:
        return parsed.text
    if parsed.kind is Kind.TEXT:
        return "\n".join(PLACEHOLDER_RE.sub(" ", mask_whole(line.message, UNQUOTED))
                         for line in parsed.lines)
    parts = [PLACEHOLDER_RE.sub(" ", line.template) for line in parsed.lines]
    return "\n".join(parts + parsed.reasons)


def answer_key(parsed: Parsed, hits: Sequence[SignalHit]) -> Hashable:
    """Everything ``build_query`` and ``run`` read of an input: two inputs with one key get
    the same hits (the log pipe caches answers under it). For log text that is the templates,
    the decoded reasons, the exact signals and what the caps look at; a question is searched
    by its own words, and a statement in words by its words and quoted values (its caps read
    the text as written too)."""
    if parsed.kind is not Kind.LOG:
        return (parsed.kind, parsed.text)
    return (
        parsed.kind,
        tuple(line.template for line in parsed.lines),
        tuple(parsed.reasons),
        tuple(h.number for h in hits),
        tuple(line.level in QUIET_LEVELS for line in parsed.lines if line.level),
        all("accesslog" in line.shapes for line in parsed.lines),
    )


def may_be_confident(parsed: Parsed, hits: Sequence[SignalHit]) -> bool:
    """False when no hit for this input can reach WEIGHTS.confident: log text without an exact
    signal is capped below it (``_caps``). The log pipe skips the search then."""
    return bool(hits) or parsed.kind is not Kind.LOG


def build_query(
    parsed: Parsed, signals: Signals, index: TextIndex, hits: list[SignalHit] | None = None,
    context: frozenset[int] | None = None,
) -> Query:
    """The query ``run`` executes for a parsed input (``hits``: its signals, if known;
    ``context``: which of them are context, if known: ``Signals.context``, from the same
    ``Signals`` that numbered them)."""
    words = text_for_terms(parsed)
    terms = [t for t in analyze(words) if not _is_ah_code(t)]
    boosts = _field_boosts(parsed.kind)
    distinct = list(dict.fromkeys(terms))[: WEIGHTS.max_terms]
    query_terms = index.query_terms(distinct, boosts)
    if hits is None:
        hits = signals.match(parsed)
    if context is None:
        context = signals.context(parsed, hits)
    missing = len(distinct) - len({t.term for t in query_terms})
    unknown = missing * _unknown_weight(index, parsed.kind) if missing else 0.0
    caps = _caps(parsed, hits)
    if parsed.kind is not Kind.LOG:
        caps += _word_caps(parsed, hits, _known_words(words, query_terms))
    return Query(parsed, query_terms, hits, caps, unknown, context=context)


def _word_caps(parsed: Parsed, hits: list[SignalHit], known: int) -> list[tuple[str, float]]:
    """Upper bounds on the confidence of input in words (a question or a statement): words
    alone must say enough to single out an entry. Exact signals are untouched."""
    w = WEIGHTS
    if known <= 1:
        return [("one word the FAQ knows", w.one_word_question_cap)]
    if hits:
        return []
    text = parsed.text
    if known <= 2 and is_keywords(text):  # a question or a statement alike
        return [("two keywords", w.two_keywords_cap)]
    # Routine output: shaped like a tool's output and no word says something is wrong (read
    # in the template: "error" in a path or a quoted value says nothing of the line).
    if (parsed.kind is Kind.TEXT and looks_like_output(text, known) and not says_what_is_wrong(
            "\n".join(line.template for line in parsed.lines))):
        return [("a statement that says nothing is wrong", w.routine_statement_cap)]
    return []


def _known_words(text: str, terms: Sequence[QueryTerm]) -> int:
    """How many words of ``text`` (as written: "mod_ssl", "CSRs", "pass-phrase" are one
    each) give a term the index has."""
    known = {t.term for t in terms}
    return sum(1 for word in set(text.lower().split()) if known.intersection(analyze(word)))


def _is_ah_code(term: str) -> bool:
    """AH codes are exact signals, not words (``ah02565``)."""
    return term.startswith("ah") and _AH_TERM.match(term) is not None


def _caps(parsed: Parsed, hits: list[SignalHit]) -> list[tuple[str, float]]:
    """Upper bounds on text-only confidence from what the line says about itself (a question
    or a statement in words has none: they are read alike)."""
    if parsed.kind is not Kind.LOG:
        return []
    w = WEIGHTS
    caps = [("log text without an exact signal", w.log_text_cap)]
    if parsed.ah_codes and not hits:
        caps.append(("httpd message code that no entry knows", w.unknown_code_cap))
    levels = [line.level for line in parsed.lines if line.level]
    if levels and all(level in QUIET_LEVELS for level in levels):
        caps.append(("routine log level (info/notice/debug)", w.quiet_level_cap))
    if parsed.lines and all("accesslog" in line.shapes for line in parsed.lines):
        caps.append(("access-log line", w.access_log_cap))
    return caps


@dataclass
class _Scored:
    """One candidate document: its total score, text score and exact signals."""

    doc: int
    score: float
    text: float
    signal: float
    used: list[SignalHit]


def run(query: Query, entries: EntryStore, index: TextIndex, limit: int = 5
        ) -> list[HitRecord]:
    """Score candidates from exact signals and the text index; best ``limit`` hits (plain
    records: ``Searcher.run`` gives the pydantic models)."""
    exact = _exact_scores(query, index)
    matches = {m.doc: m for m in index.search(query.terms, limit=max(limit * 3, 15))}
    weight = _term_weights(index, query)
    total = sum(weight.values()) or 1.0
    coverage = {doc: _coverage(m.terms, weight, total) for doc, m in matches.items()}
    text_of = {doc: m.score * _coverage_factor(coverage[doc]) for doc, m in matches.items()}
    best_text = max(text_of.values(), default=0.0)
    sure = _explaining_weights(index, query, weight)
    sure_total = sum(sure.values()) or 1.0
    scored = []
    for doc in set(exact) | set(matches):
        text = text_of.get(doc, 0.0)
        signal, used = exact.get(doc, (0.0, []))
        text_part = WEIGHTS.text * text / best_text if best_text else 0.0
        scored.append(_Scored(doc, signal + text_part, text, signal, used))
    ids = entries.ids
    scored.sort(key=lambda s: (-s.score, ids[s.doc]))
    hits = []
    ceiling = WEIGHTS.max_confidence
    for rank, item in enumerate(scored[:limit]):
        match = matches.get(item.doc)
        cover = coverage.get(item.doc, 0.0)
        explained = (_coverage(match.terms, sure, sure_total + query.unknown)
                     if match is not None else 0.0)
        # only the first hit can lead
        titled = (_titled(entries[item.doc], match, sure, sure_total + query.unknown)
                  if match is not None and rank == 0 else 0.0)
        others = [s.score for j, s in enumerate(scored[:2]) if j != rank]
        distinct = 1 - max(others, default=0.0) / item.score if item.score > 0 else 0.0
        confidence, capped = _confidence(query, item.signal, explained, max(0.0, distinct),
                                         titled)
        confidence = min(confidence, ceiling)  # never above a better-ranked hit
        ceiling = confidence
        why = _why(query, item, match, cover, capped, explained,
                   item.text / (total + query.unknown), index)
        # _confidence keeps the value in [0, 0.99]; the property tests validate every hit.
        hits.append(HitRecord(entries[item.doc], item.score, confidence, why))
    return hits


def _coverage(terms: list[Contribution], weight: dict[str, float], total: float) -> float:
    """The share of the query's weight that a document's matched terms carry."""
    return sum(weight.get(t, 0.0) for t in dict.fromkeys(c.term for c in terms)) / total


def _titled(entry: EntryRecord, match: Match, weight: dict[str, float], total: float) -> float:
    """How much of the query one of the entry's phrasings explains: its title or one of its
    question phrasings, the best of them (the title field holds them all, and words matched
    across several phrasings make no phrasing of the question: "switch is missing from the
    man page" is not "padlock missing ..." with "switch between HTTP and HTTPS")."""
    matched = {c.term for c in match.terms if c.field == "title"}
    if not matched:
        return 0.0
    best = 0.0
    for phrasing in (entry.title, *entry.questions):
        own = matched.intersection(analyze(phrasing))
        if own:
            best = max(best, sum(weight.get(t, 0.0) for t in own) / total)
    return best


def _coverage_factor(coverage: float) -> float:
    """How much a candidate's BM25F counts given the share of the query it covers."""
    floor = WEIGHTS.coverage_floor
    return floor + (1 - floor) * coverage**WEIGHTS.coverage_power


def _explaining_weights(index: TextIndex, query: Query, weight: dict[str, float]
                        ) -> dict[str, float]:
    """The term weights of how much of the query a hit explains: ``weight``, but a term the
    collection has only in fields that count little for this query (a question's word found
    only in example log lines, the signatures field) weighs as a word no entry has. Such a
    word is the question's topic as far as the collection knows: a hit whose example lines
    hold it explains it (a log line typed as a question), any other hit leaves it
    unexplained ("failed to get endpoints on Android" is not answered by the entry about
    Android because another entry's log example says "endpoint")."""
    best: dict[str, float] = {}
    for term in query.terms:
        best[term.term] = max(best.get(term.term, 0.0), term.boost)
    weak = [t for t, boost in best.items() if boost < 1.0]
    if not weak:
        return weight
    unknown = _unknown_weight(index, query.parsed.kind)
    return {**weight, **{t: max(weight.get(t, 0.0), unknown) for t in weak}}


def _field_boosts(kind: Kind) -> dict[str, float]:
    """The field boosts for an input of this kind (log text, or words)."""
    return WEIGHTS.log_fields if kind is Kind.LOG else WEIGHTS.question_fields


def _unknown_weight(index: TextIndex, kind: Kind) -> float:
    """The weight of one query word no entry has: as much as the rarest word there is in
    the best field."""
    return index.idf("", "") * max(_field_boosts(kind).values()) * WEIGHTS.unknown_factor


def _term_weights(index: TextIndex, query: Query) -> dict[str, float]:
    """Each distinct query term's weight: its best idf x boost over the fields it occurs in."""
    weights: dict[str, float] = {}
    for term in query.terms:
        value = index.idf(term.field, term.term) * term.boost
        weights[term.term] = max(weights.get(term.term, 0.0), value)
    return weights


_WORDED = (SignalKind.TITLE, SignalKind.QUOTE)  # signals made of an entry's own words


def _exact_scores(query: Query, index: TextIndex
                  ) -> dict[int, tuple[float, list[SignalHit]]]:
    """Each entry's exact-signal score: its best signal plus a little for a few more."""
    scale = WEIGHTS.question_signal_scale if query.parsed.kind is Kind.QUESTION else 1.0
    by_entry: dict[int, list[SignalHit]] = defaultdict(list)
    question = query.parsed.kind is Kind.QUESTION
    for hit in query.signals:
        if not (question and hit.kind in _WORDED):  # a question is its own words
            by_entry[hit.entry].append(hit)
    out = {}
    extra = WEIGHTS.extra_signals_counted
    context = query.context
    for doc, hits in by_entry.items():
        weights = sorted((signal_weight(h, index) for h in hits if h.number not in context),
                         reverse=True)
        more = len(hits) - len(weights)  # context: each counts as a further signal only
        if weights:
            score = weights[0] + WEIGHTS.extra_signal * min(extra, len(weights) - 1 + more)
        else:
            score = WEIGHTS.extra_signal
        out[doc] = (score * scale, hits)
    return out


def signal_weight(hit: SignalHit, index: TextIndex | None = None) -> float:
    """The points one exact signal gives its entry (a title phrase or quoted error: more for
    rarer words in the collection, ``specificity``; without ``index``, as if average)."""
    w = WEIGHTS
    if hit.kind is SignalKind.SIGNATURE:
        return w.signature + w.signature_length_bonus * min(
            1.0, len(hit.value) / w.signature_length_full)
    if hit.kind in _WORDED:
        base = w.title_signal if hit.kind is SignalKind.TITLE else w.quote_signal
        rare = specificity(index, hit.value) if index is not None else 0.5
        return base + w.worded_specificity_bonus * rare
    return w.code if hit.kind is SignalKind.CODE else w.reason


def specificity(index: TextIndex, phrase: str) -> float:
    """How specific a phrase is in a collection, 0..1: the mean idf of its terms over the
    highest idf there is (a term no entry has), each term's idf from the field it is most
    common in (title or answer). "402: Payment Required" is rarer in youtube-dl's FAQ than
    "ERROR: unable to download video", whose words most of its entries use."""
    terms = analyze(phrase)
    top = index.idf("", "")  # a term no entry has
    if not terms or top <= 0:
        return 0.5
    idfs = [min(index.idf("title", t), index.idf("answer", t)) for t in terms]
    return max(0.0, min(1.0, sum(idfs) / len(idfs) / top))


def _confidence(
    query: Query, signal_score: float, explained: float, distinct: float, titled: float = 0.0
) -> tuple[float, str]:
    """(confidence, what capped it or '').

    With exact signals (log text): 1 - exp(-signal score / scale), plus a little for standing
    out. Text alone: how much of the query the hit explains (``explained``: the idf-weighted
    share of the query's words it matches, words no entry has counted as unexplained) and how
    far its score stands above the next hit's (``distinct``: 1 - next / own; 0 for any hit but
    the first, whose lead is its own) or, for the first hit, how much of the query its title
    and question phrasings explain (``titled``): text_cap * explained ** a * lead ** b with
    lead = max(min(1, distinct / full), titled ** c).
    Both are relative to the collection searched (idf, scores of its own entries), so the
    same number means the same on any collection.
    """
    w = WEIGHTS
    signal = 1.0 - math.exp(-signal_score / w.signal_scale) if signal_score > 0 else 0.0
    if signal and query.parsed.kind is not Kind.QUESTION:
        return min(w.max_confidence, signal + w.signal_text_bonus * distinct), ""
    lead = max(min(1.0, distinct / w.distinct_full), titled ** w.title_lead_power)
    value = w.text_cap * explained ** w.explained_power * lead ** w.distinct_power
    value = max(value, signal)
    capped = ""
    for why, cap in query.caps:
        if value > cap:
            value, capped = cap, why
    return max(0.0, value), capped


def _why(query: Query, item: _Scored, match: Match | None, coverage: float,
         capped: str, explained: float, strength: float, index: TextIndex) -> Why:
    boosts = {(t.field, t.term): t.boost for t in query.terms}
    terms = tuple(TermWhy(c.field, c.term, boosts.get((c.field, c.term), 1.0), c.score)
                  for c in (match.terms if match is not None else ()))
    return Why(
        kind=query.parsed.kind.value,
        signals=tuple(SignalWhy(h.kind.value, h.value,
                                WEIGHTS.extra_signal if h.number in query.context
                                else signal_weight(h, index), h.number in query.context)
                      for h in item.used),
        bm25f=item.text,
        coverage=coverage,
        terms=terms,
        capped_by=capped or None,
        explained=explained,
        strength=strength,
    )


@dataclass
class Searcher:
    """What ranking needs of a knowledge base: its entries, signal tables and text index.

    The log pipe holds one of these (not the whole KnowledgeBase): it is small, picklable
    and all a worker process needs.
    """

    entries: EntryStore
    signals: Signals
    index: TextIndex

    def query(self, parsed: Parsed, hits: list[SignalHit] | None = None,
              context: frozenset[int] | None = None) -> Query:
        """The query for a parsed input (``hits`` and ``context``: as ``build_query``)."""
        return build_query(parsed, self.signals, self.index, hits, context)

    def rank(self, query: Query, limit: int = 5) -> list[HitRecord]:
        """Run a query; the hits as plain records."""
        return run(query, self.entries, self.index, limit)

    def run(self, query: Query, limit: int = 5) -> list[Hit]:
        """Run a query; the hits as the API's models."""
        return [hit.model() for hit in self.rank(query, limit)]

    def best(self, query: Query) -> Hit | None:
        """The confident top hit of a query, or None."""
        found = self.best_record(query)
        return found.model() if found is not None else None

    def best_record(self, query: Query) -> HitRecord | None:
        """``best`` as plain data (the log pipe's form: no pydantic model is built)."""
        found = self.rank(query, limit=1)
        return found[0] if found and found[0].confidence >= WEIGHTS.confident else None


def _answers(hits: list[HitRecord]) -> float | None:
    """How well a collection's best hit answers, for its posterior: its own confidence
    (None without a hit)."""
    return hits[0].confidence if hits else None


@dataclass
class MergedSearcher(Searcher):
    """Several collections searched side by side: each with its own index, so its scores and
    confidences are its own (a big or an off-topic collection cannot outscore another by its
    word statistics), merged by exact-signal confidence, then by text evidence (below);
    each collection keeps its order. ``entries`` and ``signals`` are those of all
    collections together (the log pipe scans with them); ``parts`` holds each collection's
    name, searcher and first entry's position.

    Which collection a question is about comes first: the *collection prior* is the log
    likelihood of the query's words under each collection: by the word's share of the
    collection's entries and by its share of the collection's text, each smoothed toward
    its share over all collections (``_priors``). A word only one collection has
    ("rclone", "SSLCertificateFile") points to it; a word every
    collection has weighs little; within its own collection the same word may be too common
    to count (a project's name is in most of its entries). The text evidence of a hit adds
    how far its BM25F stands above its collection's *noise level*: the median top BM25F that
    the collection gives to questions that are not about it (a sample of at most
    REFERENCE_SAMPLE titles of the other collections, computed once on the first merged
    search, about a millisecond each). Collections written with tags and question phrasings,
    or on a broad topic, score higher on every question; the noise level takes that out.

    A text hit's confidence is its own collection's, times the posterior of its collection
    (each collection's prior times its best hit's own confidence, normalised: one without
    any of the query's words, or whose best hit is no answer, takes no share): a question
    that two collections both answer well is not a confident answer from one of them. A
    hit with an exact signal keeps its confidence (the signal is evidence only its
    collection has), unless other collections' signals claim the input too: then each keeps
    its share (``_contested``). Down the merged list no confidence rises above a
    better-ranked hit's.
    (Listing confident answers before unconfident ones made more confident answers wrong on
    the foreign FAQs beside the shipped one: 0.77 right against 0.79.)"""

    parts: list[tuple[str, Searcher, int]] = field(default_factory=list)
    _references: dict[int, tuple[float, float]] = field(default_factory=dict, repr=False)
    _word_counts: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = field(
        default_factory=dict, repr=False)

    @staticmethod
    def _merge_key(hit: HitRecord, prior: float, noise: float, top: float, n: int,
                   share: bool, exact: bool = True) -> tuple[float, bool, float, float, int]:
        """Exact signals first (by confidence), then the collections with a share of the
        posterior before those without (whose best hit has no confidence while another's
        has: their hits are no answer, and above a good one the confidence ceiling would
        cap it), then the collection prior plus the log of the hit's BM25F over its
        collection's noise level. (Exact signals first only while
        still confident after the posterior did worse on the unseen log lines beside the
        foreign FAQs: an error string in a signature is strong evidence even when the line
        names another tool.)"""
        signal = hit.confidence if hit.why.signals and exact else 0.0
        text = math.log(hit.why.bm25f / noise) if hit.why.bm25f > 0 else -math.inf
        return (signal, share, prior + text, hit.score / top, -n)

    def _named(self, query: Query) -> int | None:
        """The one collection the input names ("rclone: ftp tls handshake fail - no shared
        cipher" beside the shipped FAQ), or None: a word of a collection's name (a file's
        stem, a folder's name) of at least NAME_MIN_CHARS characters that is one of the
        query's words and occurs in that collection and in no other. Its own exact signals
        then rank as they do alone; another collection's, as text (``rank``)."""
        words = {t.term for t in query.terms}
        named = set()
        for n, (name, _, _) in enumerate(self.parts):
            for word in analyze(name):
                if len(word) >= NAME_MIN_CHARS and word in words:
                    counts = self._counts(word)[0]
                    if counts[n] and not any(c for j, c in enumerate(counts) if j != n):
                        named.add(n)
        return named.pop() if len(named) == 1 else None

    def _priors(self, query: Query, skip: frozenset[str] | set[str] = frozenset()
                ) -> list[float]:
        """Each collection's log P(query words | collection): the mean of the log likelihoods
        of two models of the collection (their geometric mean), which err in opposite
        directions when collections write entries of different lengths. For every distinct
        word some collection has:

        - *entries*: the word's share of the collection's entries (long entries have most
          words, so this favours a collection that writes long answers: the shipped FAQ took
          foreign questions);
        - *text*: the word's share of the collection's text, fields weighted as for a
          question (this favours a collection of short answers, where a topic's words are a
          larger share: alone it took shipped questions).

        Each share is smoothed half-and-half with the word's share over all collections (a
        word the collection lacks keeps half the background's chance, so a collection of
        five entries and one of five hundred are judged alike)."""
        sizes = [searcher.index.documents for _, searcher, _ in self.parts]
        lengths = [sum(weight * searcher.index.length(name)
                       for name, weight in WEIGHTS.question_fields.items())
                   for _, searcher, _ in self.parts]
        everything, text = sum(sizes), sum(lengths)
        priors = [0.0] * len(sizes)
        if not everything or not text:
            return priors
        for word in dict.fromkeys(t.term for t in query.terms if t.term not in skip):
            dfs, cfs = self._counts(word)
            for counts, totals, whole in ((dfs, sizes, everything), (cfs, lengths, text)):
                share = sum(counts) / whole
                if share:
                    for n, (count, total) in enumerate(zip(counts, totals, strict=True)):
                        own = count / total if total else 0.0
                        priors[n] += 0.5 * math.log(0.5 * own + 0.5 * share)
        return priors

    def _counts(self, word: str) -> tuple[tuple[int, ...], tuple[float, ...]]:
        """For each collection, the most entries that have ``word`` in one field (a lower
        bound of those that have it in some field: the index counts per field), and how
        often the word occurs, fields weighted as for a question (``_priors``)."""
        known = self._word_counts.get(word)
        if known is None:
            if len(self._word_counts) >= WORD_COUNTS:
                self._word_counts.clear()
            indexes = [searcher.index for _, searcher, _ in self.parts]
            known = self._word_counts[word] = (
                tuple(max(index.df(name, word) for name in WEIGHTS.log_fields)
                      for index in indexes),
                tuple(sum(weight * index.frequency(name, word)
                          for name, weight in WEIGHTS.question_fields.items())
                      for index in indexes))
        return known

    def _reference(self, n: int) -> float:
        """The noise level of collection ``n`` (see the class). A collection so small that
        most questions about the others match nothing in it has no median to go by: then
        the median of the scores of those that match something, or when none does, the
        median noise level of the collections that have one (a weak match there is no
        stronger evidence than elsewhere)."""
        median, matched = self._sampled(n)
        if median > 0:
            return median
        if matched > 0:
            return matched
        others = sorted(m for j in range(len(self.parts)) if j != n
                        for m in [self._sampled(j)[0]] if m > 0)
        return others[len(others) // 2] if others else 1.0

    def _sampled(self, n: int) -> tuple[float, float]:
        """The median top BM25F of collection ``n`` on the other collections' titles (at
        most REFERENCE_SAMPLE of them), and the median of those above 0; computed once."""
        known = self._references.get(n)
        if known is None:
            from kb.logline import Kind, parse

            searcher = self.parts[n][1]
            # The other collections' entries as (store, position), read only when sampled.
            others = [(other.entries, i) for j, (_, other, _) in enumerate(self.parts) if j != n
                      for i in range(len(other.entries))]
            step = max(1, len(others) // REFERENCE_SAMPLE)
            scores = []
            for store, position in others[::step][:REFERENCE_SAMPLE]:
                parsed = parse(store[position].title)
                parsed.kind = Kind.QUESTION
                hits = searcher.rank(searcher.query(parsed, []), limit=1)
                scores.append(hits[0].why.bm25f if hits else 0.0)
            scores.sort()
            positive = [x for x in scores if x > 0]
            known = self._references[n] = (scores[len(scores) // 2] if scores else 0.0,
                                           positive[len(positive) // 2] if positive else 0.0)
        return known

    def query(self, parsed: Parsed, hits: list[SignalHit] | None = None,
              context: frozenset[int] | None = None) -> Query:
        """One query per collection, each with the signals that point into it."""
        if hits is None:
            hits = self.signals.match(parsed)
        if context is None:
            context = self.signals.context(parsed, hits)
        parts = []
        for _, searcher, start in self.parts:
            stop = start + len(searcher.entries)
            mine = [SignalHit(h.entry - start, h.kind, h.value, h.signature, h.number)
                    for h in hits if start <= h.entry < stop]
            parts.append(searcher.query(parsed, mine, context))
        first = parts[0]
        terms = list(dict.fromkeys(t for part in parts for t in part.terms))
        return Query(parsed, terms, hits, first.caps, min(p.unknown for p in parts), parts,
                     context)

    def rank(self, query: Query, limit: int = 5) -> list[HitRecord]:
        """Each collection's best ``limit`` hits, merged."""
        if not query.parts:
            query = self.query(query.parsed, query.signals, query.context)
        found = [searcher.rank(part, limit)
                 for (_, searcher, _), part in zip(self.parts, query.parts, strict=True)]
        priors = self._priors(query)
        posteriors = self._posteriors(priors, [_answers(hits) for hits in found])
        named = self._named(query)
        shares = self._contested(query, found) if named is None else None
        lists = []
        for n, hits in enumerate(found):
            # An exact signal is the collection's own (its signatures, codes and titles
            # printed in the line): its confidence needs no posterior, unless the input
            # names another collection (then it is the other project's error string) or
            # other collections' signals claim the line too (then each keeps its share).
            exact = named is None or named == n
            signal_share = shares[n] if shares else 1.0
            hits = [replace(h, confidence=h.confidence * (
                        signal_share if h.why.signals and exact else posteriors[n]),
                            why=replace(h.why, collection_posterior=posteriors[n],
                                        named_elsewhere=not exact,
                                        signal_share=(signal_share if shares and h.why.signals
                                                      and exact else None)))
                    for h in hits]
            top = hits[0].score if hits and hits[0].score > 0 else 1.0
            noise = self._reference(n)
            lists.append([(self._merge_key(h, priors[n], noise, top, n, posteriors[n] > 0,
                                           exact), h)
                          for h in hits])
        merged: list[HitRecord] = []
        ceiling = 1.0
        while len(merged) < limit and any(lists):
            # The best of the collections' next hits: each collection keeps its own order.
            best = max((items for items in lists if items), key=lambda items: items[0][0])
            hit = best.pop(0)[1]
            if hit.confidence > ceiling:  # never above a better-ranked hit
                hit = replace(hit, confidence=ceiling)
            ceiling = hit.confidence
            merged.append(hit)
        return merged

    def _contested(self, query: Query, found: list[list[HitRecord]]) -> list[float] | None:
        """When exact signals of more than one collection claim the input (the same error
        string is a signature of the shipped FAQ and quoted in a foreign answer), each
        collection's share of them; else None (a signal only one collection has keeps its
        confidence). The claimed text is evidence for all of them alike, so the shares come
        from the input's other words: the collection priors (``_priors``) of the words
        outside every matched signal, normalised over the claiming collections (equal shares
        when no other word is known)."""
        claims = [n for n, hits in enumerate(found) if any(h.why.signals for h in hits)]
        if len(claims) < 2:
            return None
        claimed = {term for n in claims for h in found[n] for s in h.why.signals
                   for term in analyze(s.value)}
        priors = self._priors(query, skip=claimed)
        best = max(priors[n] for n in claims)
        weights = [math.exp(priors[n] - best) if n in claims else 0.0
                   for n in range(len(found))]
        total = sum(weights)
        return [w / total for w in weights]

    @staticmethod
    def _posteriors(priors: list[float], answers: list[float | None]) -> list[float]:
        """Each collection's share of the chance that it holds the answer: its prior times
        how well its best hit answers (``_answers``), normalised. A collection without any
        of the query's words takes no share, nor, when another collection has an answer,
        does one whose best hit has confidence 0 (one generic word shared with a one-entry
        FAQ does not halve the confidence of a good answer elsewhere); when no hit has any
        confidence, the priors decide among the collections that have a hit."""
        if not any(answers):  # no confidence anywhere: each collection with a hit alike
            answers = [None if answer is None else 1.0 for answer in answers]
        live = [p for p, answer in zip(priors, answers, strict=True) if answer]
        if not live:
            return [0.0] * len(priors)
        best = max(live)
        likelihoods = [math.exp(p - best) * answer if answer else 0.0
                       for p, answer in zip(priors, answers, strict=True)]
        total = sum(likelihoods)
        return [x / total for x in likelihoods]
