"""The in-memory form of an IR test collection: plain, aligned tuples and dicts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property

from ..fingerprints import digest_json, digest_strings


@dataclass(frozen=True, repr=False)
class Dataset:
    """A corpus, its judged queries and their relevance judgements for one split.

    `doc_ids`, `titles` and `texts` are aligned: position i is one document. Only queries
    with at least one judgement are kept; `dropped_queries` counts the others.
    `excluded_docs` maps a query id to documents that are never retrieved for it: removed from
    its results before scoring, as BRIGHT does with each query's `excluded_ids` (documents the
    benchmark rules out for that query, e.g. the problem a coding or math query was written
    from). Unlike `exclude_self_matches` it is part of the data: always applied, and part of
    the fingerprint.
    """

    name: str
    source: str
    split: str
    doc_ids: tuple[str, ...]
    titles: tuple[str, ...]
    texts: tuple[str, ...]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    exclude_self_matches: bool = False
    dropped_queries: int = 0
    notes: tuple[str, ...] = field(default=())
    subsampled_from: int | None = None  # the judged queries before `subsample_queries`, if it cut any
    excluded_docs: dict[str, frozenset[str]] = field(default_factory=dict)

    def __repr__(self) -> str:  # never the content: a failing test prints its arguments
        return f"Dataset({self.name} [{self.split}]: {len(self.doc_ids)} documents, {len(self.queries)} queries, fingerprint {self.fingerprint[:12]})"

    @property
    def documents(self) -> list[str]:
        """Text to encode per document: title and body joined by a space (BEIR convention)."""
        return [f"{t} {x}".strip() if t else x for t, x in zip(self.titles, self.texts)]

    @cached_property
    def corpus_fingerprint(self) -> str:
        return digest_strings(
            s for triple in zip(self.doc_ids, self.titles, self.texts) for s in triple
        )

    @cached_property
    def fingerprint(self) -> str:
        parts = {
            "corpus": self.corpus_fingerprint,
            "queries": sorted(self.queries.items()),
            "qrels": {q: sorted(d.items()) for q, d in sorted(self.qrels.items())},
            "split": self.split,
        }
        excluded = {q: sorted(d) for q, d in sorted(self.excluded_docs.items()) if d}
        if excluded:  # only then: the fingerprints of all other datasets stay as they were
            parts["excluded"] = excluded
        return digest_json(parts)

    @property
    def excluded_count(self) -> int:
        """(query, document) pairs excluded from retrieval."""
        return sum(len(d) for d in self.excluded_docs.values())

    def describe(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "split": self.split,
            "documents": len(self.doc_ids),
            "queries": len(self.queries),
            "dropped_queries": self.dropped_queries,
            "exclude_self_matches": self.exclude_self_matches,
            "excluded_documents": self.excluded_count,
            "fingerprint": self.fingerprint,
            "corpus_fingerprint": self.corpus_fingerprint,
            "subsample": None if self.subsampled_from is None else {"queries": len(self.queries), "of": self.subsampled_from},
        }


def subsample_queries(dataset: Dataset, max_queries: int | None) -> Dataset:
    """At most `max_queries` queries, chosen by a hash of their id: the same ids on every
    machine, and a query stays chosen when others are added to the collection."""
    if not max_queries or len(dataset.queries) <= max_queries:
        return dataset
    keep = sorted(dataset.queries, key=lambda q: hashlib.sha256(q.encode()).hexdigest())[:max_queries]
    keep_set = set(keep)
    return replace(
        dataset,
        queries={q: t for q, t in dataset.queries.items() if q in keep_set},
        qrels={q: d for q, d in dataset.qrels.items() if q in keep_set},
        excluded_docs={q: d for q, d in dataset.excluded_docs.items() if q in keep_set},
        notes=dataset.notes + (f"subsampled to {max_queries} of {len(dataset.queries)} queries",),
        subsampled_from=dataset.subsampled_from or len(dataset.queries),
    )


def subsample_documents(dataset: Dataset, max_documents: int | None) -> Dataset:
    """At most `max_documents` documents: every document judged for the dataset's queries (any
    grade: a judged non-relevant one is a hard negative the scores depend on), then others chosen
    by a hash of their id, as `subsample_queries` chooses queries. Judged documents beyond the
    budget are all kept: dropping one would change what the queries are scored on."""
    if not max_documents or len(dataset.doc_ids) <= max_documents:
        return dataset
    judged = {d for docs in dataset.qrels.values() for d in docs}
    others = sorted((d for d in dataset.doc_ids if d not in judged), key=lambda d: hashlib.sha256(d.encode()).hexdigest())
    keep = judged | set(others[: max(max_documents - len(judged), 0)])
    rows = [i for i, d in enumerate(dataset.doc_ids) if d in keep]
    return replace(
        dataset,
        doc_ids=tuple(dataset.doc_ids[i] for i in rows),
        titles=tuple(dataset.titles[i] for i in rows),
        texts=tuple(dataset.texts[i] for i in rows),
        notes=dataset.notes + (f"corpus subsampled to {len(rows)} of {len(dataset.doc_ids)} documents (every judged one kept)",),
    )
