"""The checks every dataset format shares, and the one constructor that applies them.

Each format (BEIR folder, MTEB folder, saved `datasets`, JSONL/CSV tables) only parses its
files into records `(n, ...)`, where n locates the record (a line of a text file, a row of a
table); the ids, texts and judgements are checked here, so a duplicate id or a judgement of an
unknown document reads the same whichever form the data came in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Container, Iterable

from ..errors import RobustestError
from .types import Dataset

MISSING = object()  # a field the record does not have (a JSON line without "_id")


@dataclass(frozen=True)
class Origin:
    """Where a part's records come from, for messages: the file (or table) and the name each
    role has there (`{"id": "_id", "text": "text"}` in BEIR, `{"id": "docid", ...}` elsewhere)."""

    path: str
    name: str  # short, for "add the missing entries to <name>"
    fields: dict[str, str] = field(default_factory=dict)
    unit: str = "line"  # "line" (text files) or "row" (tables), counted from 1

    def at(self, n: int) -> str:
        return f"{self.path}:{n}" if self.unit == "line" else f"{self.path} row {n}"

    def needs(self) -> str:
        names = [f'"{self.fields[r]}"' for r in ("id", "text") if r in self.fields]
        names = names or [f'"{f}"' for f in self.fields.values()]
        return f"every {self.unit} needs {' and '.join(names)}"


def record_id(value: Any, origin: Origin, n: int, role: str = "id") -> str:
    key = origin.fields.get(role, role)
    if value is MISSING:
        raise RobustestError(f'{origin.at(n)}: missing field "{key}"; {origin.needs()}')
    # Ids are often written as numbers in the wild; bool is an int subclass but never an id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise RobustestError(
            f'{origin.at(n)}: field "{key}" must be a string or integer, got {type(value).__name__}; '
            f'write it as "{key}": "some-id"'
        )
    if not value:
        raise RobustestError(f'{origin.at(n)}: field "{key}" is empty; give every {origin.unit} a unique id')
    return value


def record_text(value: Any, origin: Origin, n: int, role: str = "text", required: bool = True) -> str:
    key = origin.fields.get(role, role)
    if value is MISSING or (value is None and not required):
        if required:
            raise RobustestError(f'{origin.at(n)}: missing field "{key}"; {origin.needs()}')
        return ""
    if not isinstance(value, str):
        raise RobustestError(
            f'{origin.at(n)}: field "{key}" must be a string, got {type(value).__name__}; '
            f'write it as "{key}": "..."'
        )
    return value


@dataclass
class Corpus:
    doc_ids: list[str]
    titles: list[str]
    texts: list[str]
    first: dict[str, int]  # id -> where it was first seen; doubles as the id set
    blank: int


def collect_corpus(rows: Iterable[tuple[int, Any, Any, Any]], origin: Origin) -> Corpus:
    """`rows`: (n, id, title, text); a title may be MISSING or None (no title)."""
    corpus = Corpus([], [], [], {}, 0)
    for n, raw_id, raw_title, raw_text in rows:
        doc_id = record_id(raw_id, origin, n)
        text = record_text(raw_text, origin, n)
        title = record_text(raw_title, origin, n, "title", required=False)
        if doc_id in corpus.first:
            raise duplicate(origin, n, doc_id, corpus.first[doc_id])
        corpus.first[doc_id] = n
        corpus.doc_ids.append(doc_id)
        corpus.titles.append(title)
        corpus.texts.append(text)
        if not text.strip() and not title.strip():
            corpus.blank += 1
    if not corpus.doc_ids:
        raise RobustestError(f"{origin.path} has no documents; add one document per {origin.unit}")
    return corpus


def collect_queries(rows: Iterable[tuple[int, Any, Any]], origin: Origin) -> dict[str, str]:
    """`rows`: (n, id, text)."""
    queries: dict[str, str] = {}
    first: dict[str, int] = {}
    for n, raw_id, raw_text in rows:
        qid = record_id(raw_id, origin, n)
        text = record_text(raw_text, origin, n)
        if qid in first:
            raise duplicate(origin, n, qid, first[qid])
        first[qid] = n
        queries[qid] = text
    return queries


def duplicate(origin: Origin, n: int, id_: str, first: int) -> RobustestError:
    return RobustestError(
        f"{origin.at(n)}: duplicate {origin.fields.get('id', 'id')} {id_!r} (first on {origin.unit} {first}); "
        "ids must be unique, remove or rename one of them"
    )


def parse_score(value: Any, origin: Origin, n: int) -> int:
    """A relevance grade: an integer, its text, or a float with nothing after the point
    (MTEB stores scores as float64)."""
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        score = value
    else:
        try:
            score = int(str(value).strip())
        except ValueError:
            raise RobustestError(
                f"{origin.at(n)}: score {str(value).strip()!r} is not an integer; "
                "relevance grades must be whole numbers such as 0, 1, 2"
            ) from None
    if not -(2**31) <= score < 2**31:  # trec_eval stores grades as C ints
        raise RobustestError(
            f"{origin.at(n)}: score {str(value).strip()!r} is out of range; relevance grades must be small whole numbers such as 0, 1, 2"
        )
    return score


def collect_qrels(
    rows: Iterable[tuple[int, Any, Any, Any]],
    origin: Origin,
    queries: Container[str],
    docs: Container[str],
    *,
    queries_name: str,
    corpus_name: str,
) -> dict[str, dict[str, int]]:
    """`rows`: (n, query id, document id, score). Judgements of unknown ids fail, with a count
    and the first such record, so the message stays one line."""
    qrels: dict[str, dict[str, int]] = {}
    unknown = {"q": [0, 0, ""], "d": [0, 0, ""]}
    for n, raw_q, raw_d, raw_score in rows:
        qid = record_id(raw_q, origin, n, "query_id")
        did = record_id(raw_d, origin, n, "doc_id")
        score = parse_score(raw_score, origin, n)
        bad = "q" if qid not in queries else "d" if did not in docs else ""
        if bad:
            u = unknown[bad]
            if not u[0]:
                u[1], u[2] = n, qid if bad == "q" else did
            u[0] += 1
            continue
        qrels.setdefault(qid, {})[did] = score
    for key, role, other in (("q", "query_id", queries_name), ("d", "doc_id", corpus_name)):
        count, n, id_ = unknown[key]
        if count:
            kind = origin.fields.get(role, role)
            more = f" ({count} {origin.unit}s name unknown {kind}s; this is the first)" if count > 1 else ""
            raise RobustestError(
                f"{origin.at(n)}: unknown {kind} {id_!r}, not in {other}{more}; "
                f"fix the ids in {origin.name} or add the missing entries to {other}"
            )
    return qrels


def assemble(
    corpus: Corpus,
    queries: dict[str, str],
    qrels: dict[str, dict[str, int]],
    *,
    name: str,
    source: str,
    split: str,
    exclude_self_matches: bool,
    qrels_origin: Origin,
    queries_origin: Origin,
) -> Dataset:
    """The Dataset of checked parts: only judged queries are kept (a query whose judgements are
    all <= 0 still counts), and blank texts are noted."""
    judged = {q: t for q, t in queries.items() if q in qrels}
    if not judged:
        raise RobustestError(
            f"{qrels_origin.path} judges none of the queries in {queries_origin.path}; "
            "add judgements (query-id, corpus-id, score) for at least one query"
        )
    notes = []
    if corpus.blank:
        notes.append(f"{corpus.blank} documents have blank text and title")
    blank_queries = sum(1 for t in judged.values() if not t.strip())
    if blank_queries:
        notes.append(f"{blank_queries} judged queries have blank text")
    return Dataset(
        name=name,
        source=source,
        split=split,
        doc_ids=tuple(corpus.doc_ids),
        titles=tuple(corpus.titles),
        texts=tuple(corpus.texts),
        queries=judged,
        qrels=qrels,
        exclude_self_matches=exclude_self_matches,
        dropped_queries=len(queries) - len(judged),
        notes=tuple(notes),
    )
