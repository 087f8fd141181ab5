"""Load a collection through the optional `ir_datasets` package.

ir_datasets downloads on first use, so every failure (not installed, unknown id, offline)
becomes one RobustestError line rather than a traceback from deep inside a download.
"""

from __future__ import annotations

from ..errors import RobustestError
from .types import Dataset

BEIR_HINT = "pass a local BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv) instead"


def import_ir_datasets():
    """The ir_datasets module, or None when the optional dependency is missing."""
    try:
        import ir_datasets  # lazy: heavy import, and optional
    except ImportError:
        return None
    return ir_datasets


def is_registered(dataset_id: str) -> bool:
    """Whether ir_datasets knows this id; checks the registry only, downloads nothing."""
    irds = import_ir_datasets()
    return irds is not None and dataset_id in irds.registry


def load_ir_datasets(dataset_id: str, *, exclude_self_matches: bool | None = None) -> Dataset:
    irds = import_ir_datasets()
    if irds is None:
        raise RobustestError(
            f"ir_datasets id {dataset_id!r} needs the ir_datasets package, which is not "
            f"installed; run pip install 'robustest[irds]' or {BEIR_HINT}"
        )
    if exclude_self_matches is None:
        # BEIR collections judge documents whose id equals the query's; ir_datasets
        # serves the same data under beir/..., so the same quirk applies.
        exclude_self_matches = dataset_id.startswith("beir/")
    try:
        ds = irds.load(dataset_id)
    except KeyError:
        raise RobustestError(
            f"unknown ir_datasets id {dataset_id!r}; run `ir_datasets list` to see the ids "
            f"it knows, or {BEIR_HINT}"
        ) from None
    for part in ("docs", "queries", "qrels"):
        if not getattr(ds, f"has_{part}")():
            raise RobustestError(
                f"ir_datasets id {dataset_id!r} has no {part}; pick an id with docs, queries "
                "and qrels (often the split-level id, e.g. beir/scifact/test)"
            )

    # Iterating is what triggers the download, so that is where network errors surface.
    # Catch broadly: ir_datasets raises RuntimeError, OSError, requests errors, ...
    try:
        doc_ids, titles, texts = [], [], []
        for doc in ds.docs_iter():
            fields = doc._fields
            if "text" in fields:
                title = (doc.title or "") if "title" in fields else ""
                text = doc.text or ""
            else:
                title, text = "", doc.default_text()  # default_text already includes any title
            doc_ids.append(doc.doc_id)
            titles.append(title)
            texts.append(text)
        queries = {
            q.query_id: (q.text if "text" in q._fields else q.default_text())
            for q in ds.queries_iter()
        }
        raw_qrels = [(r.query_id, r.doc_id, int(r.relevance)) for r in ds.qrels_iter()]
    except RobustestError:
        raise
    except Exception as exc:
        summary = _summary(exc)
        # A stalled network is not a hang: ir_datasets gives up after 15 s without data,
        # 3 tries per mirror (45-90 s). Say how to make it give up sooner.
        slow = ""
        if "timed out" in summary.lower():
            slow = " (set IR_DATASETS_DL_TIMEOUT and IR_DATASETS_DL_TRIES to fail sooner)"
        raise RobustestError(
            f"ir_datasets could not download or read {dataset_id!r} ({summary}){slow}; "
            f"check the network connection or {BEIR_HINT}"
        ) from None

    # Unlike a BEIR folder the user cannot fix this data, so drop dangling judgements
    # and say so in the notes instead of failing.
    known = set(doc_ids)
    exclusion = exclusion_grades(ds)
    qrels: dict[str, dict[str, int]] = {}
    excluded: dict[str, set[str]] = {}
    dangling = unknown_excluded = 0
    for qid, did, rel in raw_qrels:
        if rel in exclusion:  # not a judgement: a document never to be retrieved for qid
            if qid in queries and did in known:
                excluded.setdefault(qid, set()).add(did)
            else:
                unknown_excluded += 1
        elif qid in queries and did in known:
            qrels.setdefault(qid, {})[did] = rel
        else:
            dangling += 1
    judged = {q: t for q, t in queries.items() if q in qrels}
    if not judged:
        raise RobustestError(
            f"ir_datasets id {dataset_id!r} has no judged queries; pick an id with qrels "
            "for its queries (e.g. beir/scifact/test)"
        )
    notes = []
    if dangling:
        notes.append(f"{dangling} judgements name unknown queries or documents and were dropped")
    excluded_docs = {q: frozenset(d) for q, d in excluded.items() if q in judged}
    if excluded_docs:  # the summary shows the notes: say that rankings skip these
        pairs = sum(map(len, excluded_docs.values()))
        notes.append(f"{pairs} excluded (query, document) pairs are never retrieved (the collection's excluded ids)")
    if unknown_excluded:
        notes.append(f"{unknown_excluded} excluded ids name unknown queries or documents and were ignored")
    return Dataset(
        name=dataset_id,
        source=f"irds:{dataset_id}",
        split=dataset_id,  # in ir_datasets the id itself names the split
        doc_ids=tuple(doc_ids),
        titles=tuple(titles),
        texts=tuple(texts),
        queries=judged,
        qrels=qrels,
        exclude_self_matches=exclude_self_matches,
        dropped_queries=len(queries) - len(judged),
        notes=tuple(notes),
        excluded_docs=excluded_docs,
    )


def exclusion_grades(ds) -> frozenset[int]:
    """The qrels grades a collection defines as 'excluded from evaluation' rather than as a
    relevance level: BRIGHT stores each query's `excluded_ids` as grade -100 with that
    meaning. Only negative grades count ('Excluded' is a real grade in TREC CT 2021)."""
    try:
        defs = ds.qrels_defs() or {}
    except Exception:  # a handler without definitions
        return frozenset()
    return frozenset(int(g) for g, text in defs.items() if int(g) < 0 and "excluded from evaluation" in str(text).lower())


def _summary(exc: BaseException) -> str:
    """One short line for an error: the innermost cause, which says what actually went wrong."""
    prefix = ""
    # ir_datasets packs per-mirror errors as RuntimeError(msg, [(source, error), ...]).
    if len(exc.args) > 1 and isinstance(exc.args[1], list) and exc.args[1]:
        last = exc.args[1][-1]
        if isinstance(last, tuple) and last and isinstance(last[-1], BaseException):
            prefix, exc = f"{exc.args[0]}; last: ", last[-1]
    # requests wraps urllib3 wraps the socket error; the bottom one is the readable one.
    for _ in range(5):
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else None
        if inner is None:
            break
        exc = inner
    text = " ".join(f"{prefix}{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 240 else text[:237] + "..."
