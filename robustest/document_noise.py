"""Noise on the document side: the `documents` group (ocr_noise, doc_typos, truncation, boilerplate).

RAG corpora come from OCR, transcripts and scraped pages. Each family perturbs, per seed, the
judged-relevant documents of the evaluated queries (and, with the family's `documents = N`, a
seeded sample of N others), encodes only those, and ranks every query against the corpus with
those documents replaced; the rest of the corpus stays as cached. The drop rate compares that
ranking with the clean one (both searched exactly), so the families gate like query families.

    ocr_noise    character confusions of OCR (rn -> m, l -> 1, e -> c, ...) on ~3% of the letters
    doc_typos    the human_misspelling model on ~10% of the document's words
    truncation   the document cut to its first `tokens` words (default 64), as a chunker would
    boilerplate  navigation or cookie-banner text put before the document
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable

from .perturb.base import NoLegalEdit, rng_for
from .perturb.protocol import Perturbed, Variant

# OCR confusions, both ways: nlpaug's English OCR table (0/o/O/D, 1/l/I, 2/z, 5/8, 6/b, 8/s/&,
# 9/g/q, o/u, r/k, C/G, O/D/U, E/B) and the multi-character ones OCR studies keep reporting
# (rn/m, cl/d, vv/w, li/h, ii/u, in/m, e/c, a/o, h/b, t/f).
OCR = {
    "rn": ["m"], "m": ["rn", "in"], "cl": ["d"], "d": ["cl"], "vv": ["w"], "w": ["vv"], "li": ["h"], "h": ["li", "b"], "ii": ["u"],
    "e": ["c"], "c": ["e"], "a": ["o"], "t": ["f"], "f": ["t"], "b": ["h", "6"], "l": ["1", "I"], "1": ["l", "I", "7"], "I": ["l", "1"],
    "0": ["o", "O", "8", "D"], "o": ["0", "u"], "O": ["0", "D", "U"], "D": ["O", "0"], "U": ["O"], "u": ["o", "ii"], "2": ["z", "Z"],
    "z": ["2"], "Z": ["2"], "5": ["S", "8"], "S": ["5", "8"], "8": ["s", "S", "B", "&"], "s": ["8"], "B": ["8", "E"], "E": ["B"],
    "6": ["b"], "9": ["g", "q"], "g": ["9"], "q": ["9"], "r": ["k"], "k": ["r"], "C": ["G"], "G": ["C"],
}
OCR_PATTERN = re.compile("|".join(sorted(map(re.escape, OCR), key=len, reverse=True)))
OCR_RATE = 0.03  # share of the letters confused: a character error rate typical of OCR'd print
BOILERPLATE = (
    "Home | About us | Products | Blog | Contact | Sign in | Search",
    "We use cookies to improve your experience on our site. By continuing to browse you accept our use of cookies. Accept all | Settings",
    "Skip to main content. Menu: News, Sport, Business, Technology, Science, Health. Subscribe to our newsletter.",
    "Privacy policy | Terms of use | Cookie settings | Accessibility | © All rights reserved",
)
DEFAULT_TOKENS = 64


@dataclass(frozen=True)
class DocumentsChanged:
    """The plan every query of a document family carries: the query as it is, documents changed
    as `what` says."""

    what: str

    def apply(self, query: str) -> str:
        return query

    def describe(self, query: str) -> str:
        return self.what


def ocr_noise(text: str, rng: random.Random, cfg=None) -> str:
    spots = list(OCR_PATTERN.finditer(text))
    if not spots:
        raise NoLegalEdit("no character OCR confuses")
    letters = sum(c.isalnum() for c in text)
    chosen = sorted(rng.sample(spots, min(len(spots), max(1, round(OCR_RATE * letters)))), key=lambda m: m.start())
    out, cursor = [], 0
    for m in chosen:
        if m.start() < cursor:
            continue
        out += [text[cursor : m.start()], rng.choice(OCR[m.group()])]
        cursor = m.end()
    return "".join(out) + text[cursor:]


def doc_typos(text: str, rng: random.Random, cfg=None) -> str:
    from .perturb.human_typos import sample_human_typos

    return sample_human_typos(text, rng).apply(text)


def truncation(text: str, rng: random.Random, cfg=None) -> str:
    tokens = int((cfg.extra.get("tokens") if cfg is not None else None) or DEFAULT_TOKENS)
    words = text.split()
    if len(words) <= tokens:
        raise NoLegalEdit(f"the document has at most {tokens} words")
    return " ".join(words[:tokens])


def boilerplate(text: str, rng: random.Random, cfg=None) -> str:
    return f"{rng.choice(BOILERPLATE)}\n{text}"


def judged_rows(dataset, qids, relevant_only: bool = True) -> set[int]:
    """Corpus rows of the documents judged for `qids` (relevant ones only, by default)."""
    position = {d: i for i, d in enumerate(dataset.doc_ids)}
    return {position[d] for q in qids for d, grade in dataset.qrels.get(q, {}).items() if (grade > 0 or not relevant_only) and d in position}


def with_others(dataset, rows: set[int], extra: int, seed: int) -> list[int]:
    """`rows` and a seeded sample of `extra` other rows of the corpus, sorted."""
    others = sorted(set(range(len(dataset.doc_ids))) - rows)
    picked = random.Random(f"robustest:{seed}:sample").sample(others, min(extra, len(others))) if extra > 0 else []
    return sorted(rows | set(picked))


def sample_rows(dataset, qids, extra: int, seed: int) -> list[int]:
    """Rows of the judged-relevant documents of `qids`, then a seeded sample of `extra` others."""
    return with_others(dataset, judged_rows(dataset, qids), extra, seed)


class DocumentNoise:
    """A document family of the registry (Family.documents): `perturb(text, rng, cfg)` per document."""

    acts_on = "documents"

    def __init__(self, perturb: Callable[..., str], needs: Callable[[], None] | None = None):
        self.perturb, self.needs = perturb, needs

    def unavailable(self, session) -> str | None:
        from .perturb.loaders import MissingResource

        retriever = session.retriever
        if hasattr(retriever, "build_searcher") or not callable(getattr(retriever, "encode_documents", None)):
            return f"{getattr(retriever, 'name', 'this retriever')} searches without document vectors: the documents families re-encode documents"
        try:
            if self.needs is not None:
                self.needs()
        except MissingResource as missing:
            return str(missing)
        return None

    def measure(self, session, family: str, cfg) -> tuple[tuple[int, ...], Any, list[Perturbed], Any]:
        """(seeds, clean evaluation, one Perturbed per seed, the evaluations of every seed in
        that order): what engine/checks.py makes the family's FamilyRun of."""
        import numpy as np

        from .progress import note
        from .retrieval import Evaluation
        from .retrievers.vectors import checked_vectors

        index, dataset, retriever = session.corpus_index, session.dataset, session.retriever
        clean_all = session.clean_evaluation_for(cfg.measure)
        queries = list(zip(clean_all.qids, clean_all.texts))
        index.searcher  # the clean corpus vectors, from the cache
        vectors = np.asarray(index.embeddings, dtype=np.float32)
        clean = index.evaluate_with(vectors, None, queries, [cfg.measure])
        corpus = len(dataset.doc_ids)
        perturbations, evaluations, changed, encoded, done = [], [], {}, {}, {}
        for seed in cfg.seeds:
            rows = sample_rows(dataset, clean_all.qids, int(cfg.extra.get("documents") or 0), seed)
            texts = {}
            for row in rows:
                try:
                    text = self.perturb(dataset.documents[row], rng_for(seed, family, dataset.doc_ids[row]), cfg)
                except NoLegalEdit:
                    continue
                if text != dataset.documents[row]:
                    texts[row] = text
            new = sorted({t for t in texts.values() if t not in done})  # a deterministic family's texts recur over seeds
            changed[str(seed)], encoded[str(seed)] = len(texts), len(new)
            note(f"{family}, seed {seed}: {len(texts):,} of {corpus:,} documents changed, {len(new):,} to encode")
            if new:
                made = retriever.encode_documents(new)
                done.update(zip(new, checked_vectors(made, retriever, "encode_documents", len(new), dimension=vectors.shape[1])))
            replaced = vectors.copy()
            for row, text in texts.items():
                replaced[row] = done[text]
            evaluations.append(index.evaluate_with(replaced, None, queries, [cfg.measure]))
            plan = DocumentsChanged(f"{family}: {len(texts):,} of {corpus:,} documents changed (the judged ones first)")
            perturbations.append(Perturbed(family, seed, tuple(Variant(q, t, t, plan) for q, t in queries), {}))
        scored = Evaluation(
            [q for e in evaluations for q in e.qids], [t for e in evaluations for t in e.texts], [r for e in evaluations for r in e.runs],
            {cfg.measure: np.concatenate([e.scores[cfg.measure] for e in evaluations])},
        )
        session.record.add(f"{family}_documents", {"changed": changed, "encoded": encoded, "corpus": corpus}, (
            f"{family}: documents changed per seed {', '.join(f'{n:,}' for n in changed.values())} of {corpus:,}; "
            f"{sum(encoded.values()):,} encoded in all (a text met again is encoded once)"
        ))
        return tuple(cfg.seeds), clean, perturbations, scored

