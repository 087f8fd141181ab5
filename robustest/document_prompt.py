"""The document_prompt family: the documents encoded without the model's document prompt.

Some instruction-tuned retrievers prefix documents too (Diver's `Represent this text:`,
ReasonIR's `<|embed|>\\n`), and a pipeline that indexes with a plain encoder call drops it.
Measuring that means encoding documents again: the whole corpus by default, or, with the
family's `documents = N`, a seeded sample of N documents holding every judged document of the
evaluated queries. Clean and perturbed are then both scored on that sample (the clean vectors
read from the cache), so their ranks stay comparable. The perturbation is deterministic: one
seed, the first of the family's. The count of documents to encode is printed before it starts.
"""

from __future__ import annotations

from typing import Any

from .document_noise import DocumentsChanged, judged_rows, with_others
from .perturb.protocol import Perturbed, Variant

DOCUMENTS_KEY = {"documents": "int"}  # the family's own key: documents to re-encode (0: all)


def unavailable(session) -> str | None:
    """Why this run cannot measure the family, or None. A model with no prompt on either side
    gets the instruction group's one reason (session.query_prompt's), so the group skips on one line."""
    from .perturb.loaders import MissingResource
    from .retrievers.prompts import can_change_document_prompt

    retriever = session.retriever
    name = getattr(retriever, "name", type(retriever).__name__)
    if not can_change_document_prompt(retriever):
        reason = (f"{name} cannot encode documents under another prompt: document_prompt needs a Hugging Face model or a retriever "
                  "with document_prompt and encode_documents_with_prompt(texts, prompt)")
    elif not retriever.document_prompt.strip():
        reason = f"{name} encodes documents with no prompt, so document_prompt has none to leave out (--robustest-doc-prompt gives one)"
    else:
        return None
    try:
        session.query_prompt
    except MissingResource as missing:
        return str(missing)
    return reason


def sample_rows(dataset, qids, size: int, seed: int):
    """Corpus rows to re-encode (an array): every judged document of `qids`, then a seeded sample
    of the rest up to `size` (all rows when size is 0 or the corpus is no larger)."""
    import numpy as np  # not at import: the registry imports this module when pytest starts

    n = len(dataset.doc_ids)
    if not size or size >= n:
        return np.arange(n)
    judged = judged_rows(dataset, qids, relevant_only=False)
    return np.asarray(with_others(dataset, judged, size - len(judged), seed), dtype=np.int64)


def measure(session, family: str, cfg) -> Any:
    """(seeds: the first only, clean evaluation, [the one Perturbed], evaluation without the
    document prompt), on the same documents: what engine/checks.py makes the family's FamilyRun of."""
    import numpy as np

    from .progress import note

    index, dataset, retriever = session.corpus_index, session.dataset, session.retriever
    clean_all = session.clean_evaluation_for(cfg.measure)
    seed = cfg.seeds[0]
    rows = sample_rows(dataset, clean_all.qids, int(cfg.extra.get("documents") or 0), seed)
    corpus = len(dataset.doc_ids)
    prompt = retriever.document_prompt
    note(f"{family}: encoding {len(rows):,} of {corpus:,} documents again, without the document prompt {prompt!r}")
    index.searcher  # the clean corpus vectors, from the cache
    texts = [dataset.documents[i] for i in rows]
    from .retrievers.vectors import checked_vectors

    changed = checked_vectors(retriever.encode_documents_with_prompt(texts, ""), retriever, "encode_documents_with_prompt", len(texts), [dataset.doc_ids[i] for i in rows])
    sample = None if len(rows) == corpus else rows
    queries = list(zip(clean_all.qids, clean_all.texts))
    clean = index.evaluate_with(np.asarray(index.embeddings)[rows], sample, queries, [cfg.measure])
    perturbed = index.evaluate_with(changed, sample, queries, [cfg.measure])
    share = "the whole corpus" if len(rows) == corpus else f"{len(rows):,} of {corpus:,} documents"
    plan = DocumentsChanged(f"documents encoded without the document prompt {prompt!r} ({share})")
    variants = tuple(Variant(q, t, t, plan) for q, t in queries)
    session.record.add(f"{family}_documents", {"encoded": len(rows), "corpus": corpus, "prompt": prompt})
    return (seed,), clean, [Perturbed(family, seed, variants, {})], perturbed


class DocumentPromptFamily:
    """What the registry holds for the family (Family.documents): whether it can run, and the run."""

    acts_on = "document_prompt"
    unavailable = staticmethod(unavailable)
    measure = staticmethod(measure)
