"""Every number of scoring and confidence, in one typed table (each with why it is what it is).

kb.rank and kb.bm25 read ``WEIGHTS``; changing a number here is a ranking change: the golden
ranking file and both eval gates show its effect (tests/test_ranking.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Weights:
    """Scoring weights and the confidence calibration."""

    # -- what "confident" means ---------------------------------------------------------
    # At or above this a hit is an answer: the log pipe reports it, the CLI marks it. The
    # calibration below is built so that log text without an exact signal stays under it.
    confident: float = 0.5

    # -- exact signals (points added to an entry's score) -------------------------------
    # A signature is the entry author's own statement that this text means this entry.
    signature: float = 8.0
    # ... and a longer one is more specific: up to +2 for signatures of 40+ characters.
    signature_length_bonus: float = 2.0
    signature_length_full: int = 40
    # An AH code names one httpd message; several entries may share it.
    code: float = 7.0
    # An OpenSSL reason is shared by more situations than a code.
    reason: float = 6.0
    # A line that prints an entry's whole title or question phrasing (FAQs titled by error
    # messages): as strong as a reason, weaker than the author's own signatures.
    title_signal: float = 5.0
    # A line that prints an error message an entry's answer quotes as code (kb.signals
    # quoted_errors): the answer names it, but beside other things, where a title is its topic.
    quote_signal: float = 4.5
    # ... each plus up to this much for how rare its words are in the collection
    # (kb.rank.specificity, 0..1; about 0.5 on average, so a title gives 6 points as before):
    # of two titles printed in one line, the one only a few entries could be about wins. As
    # much as a long signature's bonus: enough to outweigh a small difference in text score.
    worded_specificity_bonus: float = 2.0
    # Each further signal of the same entry (at most three count) adds this.
    extra_signal: float = 1.5
    extra_signals_counted: int = 3
    # In a question typed in words, an error string quoted in it is context, not the topic
    # ("I want ADH ciphers but always get 'no shared cipher'"): exact signals only break ties.
    question_signal_scale: float = 0.15

    # -- text (BM25F, normalised to the best text match of the query) --------------------
    # The best text match adds this much to the score; others in proportion.
    text: float = 4.0
    # A document matching more of the query's weight beats one matching a few terms many
    # times: its BM25F is scaled by floor + (1 - floor) * coverage ** power.
    coverage_floor: float = 0.2
    coverage_power: float = 2.0
    # Field boosts for log text: signatures outrank the question, which outranks tags, which
    # outrank the answer (DESIGN.md).
    log_fields: dict[str, float] = field(default_factory=lambda: {
        "signatures": 3.0, "title": 2.0, "tags": 1.5, "answer": 1.0})
    # For a question in words the signatures field (error strings, example lines) says little:
    # common words are rare there, so their idf in that field would be misleadingly high.
    question_fields: dict[str, float] = field(default_factory=lambda: {
        "title": 3.0, "tags": 1.5, "answer": 1.0, "signatures": 0.25})
    # BM25F parameters (whoosh's formula and defaults, so scores equal whoosh's searcher's).
    bm25_b: float = 0.6
    bm25_k1: float = 1.2
    # In large collections a term found in more than this share of documents adds little
    # but costs a pass over a long posting list: it is left out (never under 2,000 entries).
    common_share: float = 0.25
    common_min_df: int = 500
    # Query size: terms beyond this many distinct ones are dropped (a pasted excerpt).
    max_terms: int = 48

    # -- confidence ------------------------------------------------------------------------
    # With exact signals: 1 - exp(-signal score / scale). One signature (8-10 points) gives
    # 0.80-0.86, a code 0.75, a reason 0.70; two signals of one entry 0.85-0.9.
    signal_scale: float = 5.0
    # ... plus a little for being the best text match too (breaks ties between signals).
    signal_text_bonus: float = 0.03
    # Never fully certain.
    max_confidence: float = 0.99
    # Without signals (kb.rank._confidence): text_cap * explained ** explained_power *
    # min(1, distinct / distinct_full) ** distinct_power, where explained is the idf-weighted
    # share of the query's words the hit matches (unknown words unexplained) and distinct how
    # far the hit's score stands above the next one's (1 - next / own). Set so that 0.5 needs
    # about 70% of the query explained and a lead of half the score: on the foreign FAQs'
    # questions such answers were right 9 times in 10, and a closer second or a weaker
    # match much less often (eval: scripts/eval.py on each set).
    text_cap: float = 0.95
    explained_power: float = 1.5
    distinct_full: float = 0.8
    distinct_power: float = 1.0
    # ... or the first hit's title (and question phrasings) explaining the query: a lead of
    # titled ** title_lead_power, when that is more.
    title_lead_power: float = 2.0
    # A word no entry has weighs as much as the rarest word there is, times this.
    unknown_factor: float = 1.0
    # A question or statement of one word the FAQ knows ("ssl?", "**Stopped") is a hint, not
    # an answerable question.
    one_word_question_cap: float = 0.4
    # Two keywords and no exact signal ("certificate chain", "handshake failure"), asked or
    # stated: many an entry's title holds both, so the best of them is a good guess, not a
    # sure answer (stated ones were confident too: foreign beside the shipped FAQ, confident
    # answers right 0.822 -> 0.841).
    two_keywords_cap: float = 0.45
    # A statement (not a question) with no exact signal and no word saying that something is
    # wrong (kb.logline.says_what_is_wrong): routine tool output pasted around a problem
    # ("Protocol  : TLSv1.3", "Start Time: 1764596104", "Connection: close"), not a symptom.
    routine_statement_cap: float = 0.45

    # -- caps on text-only confidence, from what the input says about itself -------------
    # Log text without an exact signal: usually noise, at best a hint (under `confident`).
    log_text_cap: float = 0.45
    # An httpd message code that no entry knows: the line is about something else.
    unknown_code_cap: float = 0.2
    # Routine log levels (info, notice, debug, trace): httpd says it is not a problem.
    quiet_level_cap: float = 0.25
    # Access-log lines describe requests, not errors.
    access_log_cap: float = 0.15


WEIGHTS = Weights()
CONFIDENT = WEIGHTS.confident
