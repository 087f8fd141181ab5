"""Which column is which in a table-shaped dataset (JSONL/CSV/TSV files, MTEB parquet,
saved `datasets`): the `--robustest-dataset-fields` mapping, the names recognised without one,
and the one path from three tables to a checked Dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import RobustestError
from .build import MISSING, Origin, assemble, collect_corpus, collect_qrels, collect_queries
from .types import Dataset

# key -> (part, what it is, names recognised without a mapping), in the order help lists them.
FIELDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "id": ("corpus", "the document id", ("_id", "id", "docid", "doc_id", "doc-id", "pid")),
    "title": ("corpus", "the document title (optional)", ("title",)),
    "text": ("corpus", "the document text", ("text", "contents", "body", "passage", "content")),
    "query_id": ("queries", "the query id", ("_id", "id", "query-id", "qid", "query_id")),
    "query": ("queries", "the query text", ("text", "query", "question")),
    "qrels_query_id": ("qrels", "the judged query's id", ("query-id", "qid", "query_id", "query-ids")),
    "qrels_doc_id": ("qrels", "the judged document's id", ("corpus-id", "docid", "doc_id", "doc-id", "pid")),
    "score": ("qrels", "the relevance grade", ("score", "relevance", "rel", "label", "grade")),
}
# A qrels file usually names its ids as the queries and corpus files do: with no mapping of its
# own, a qrels role first tries the column mapped for these.
INHERITS = {"qrels_query_id": "query_id", "qrels_doc_id": "id"}
ROLES = {  # part -> (key per build.py role)
    "corpus": {"id": "id", "title": "title", "text": "text"},
    "queries": {"id": "query_id", "text": "query"},
    "qrels": {"query_id": "qrels_query_id", "doc_id": "qrels_doc_id", "score": "score"},
}
OPTIONAL = {"title"}


def parse_dataset_fields(value: str | dict) -> dict[str, str]:
    """`id=docid,text=contents,query_id=qid`: which column holds what; unknown keys fail here,
    at the door, naming the known ones."""
    if isinstance(value, dict):  # a TOML table in [tool.robustest]
        pairs = [(str(k), str(v)) for k, v in value.items()]
    else:
        pairs = []
        for item in (p.strip() for p in str(value).split(",")):
            if not item:
                continue
            key, sep, column = item.partition("=")
            if not sep or not key.strip() or not column.strip():
                raise ValueError(f"{item!r} is not KEY=COLUMN; write e.g. id=docid,text=contents")
            pairs.append((key.strip(), column.strip()))
    mapping: dict[str, str] = {}
    for key, column in pairs:
        if key not in FIELDS:
            raise ValueError(f"unknown key {key!r}; the known keys are {', '.join(FIELDS)}")
        mapping[key] = column
    if not mapping:
        raise ValueError("no KEY=COLUMN given; write e.g. id=docid,text=contents")
    return mapping


def format_fields(mapping: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in mapping.items())


@dataclass(frozen=True)
class Table:
    """One part of a dataset as rows of named fields: `columns` as the file or schema has them,
    `rows()` yielding (n, {column: value}) with n locating the row for messages."""

    path: str
    name: str
    columns: tuple[str, ...]
    rows: Callable[[], Iterator[tuple[int, dict]]]
    unit: str = "row"


def resolve(table: Table, part: str, mapping: dict[str, str]) -> dict[str, str | None]:
    """build.py role -> the column holding it in `table`; None for an absent optional one.
    A needed column that cannot be found is one line: the file, its columns, the fix."""
    if not table.columns:
        raise RobustestError(f"{table.path} is empty; write the {part} into it, one per {table.unit}")
    resolved: dict[str, str | None] = {}
    for role, key in ROLES[part].items():
        if key in mapping:
            if mapping[key] not in table.columns:
                raise RobustestError(
                    f"{table.path}: no column {mapping[key]!r} (--robustest-dataset-fields {key}={mapping[key]}); "
                    f"its columns are {', '.join(table.columns) or 'none'}: {fix(table, key, mapping)}"
                )
            resolved[role] = mapping[key]
            continue
        inherited = mapping.get(INHERITS.get(key, ""), "")
        names = ((inherited,) if inherited else ()) + FIELDS[key][2]
        found = next((c for c in names if c in table.columns), None)
        if found is None and key not in OPTIONAL:
            raise RobustestError(
                f"{table.path}: no column for {FIELDS[key][1]} (looked for {', '.join(names)}); "
                f"its columns are {', '.join(table.columns) or 'none'}: {fix(table, key, mapping)}"
            )
        resolved[role] = found
    if part == "queries" and resolved["id"] == resolved["text"]:
        # 'query' could be both: a file with only id and query columns must not read one twice
        raise RobustestError(
            f"{table.path}: one column {resolved['id']!r} would be both the query id and its text; "
            f"its columns are {', '.join(table.columns)}: {fix(table, 'query', mapping)}"
        )
    return resolved


def fix(table: Table, key: str, mapping: dict[str, str]) -> str:
    """The exact --robustest-dataset-fields value that names the missing column: the mapping
    given so far plus this key, with the column when only one is left to choose from."""
    used = set(mapping.values())
    candidates = [c for c in table.columns if c not in used]
    column = candidates[0] if len(candidates) == 1 else "COLUMN"
    value = format_fields({**{k: v for k, v in mapping.items() if k != key}, key: column})
    return f"pass --robustest-dataset-fields={value}" + ("" if column != "COLUMN" else " with COLUMN one of its columns")


def dataset_from_tables(
    corpus: Table,
    queries: Table,
    qrels: Table,
    *,
    mapping: dict[str, str] | None,
    name: str,
    source: str,
    split: str,
    exclude_self_matches: bool,
) -> Dataset:
    mapping = mapping or {}
    # Resolve all three before reading any: a wrong name fails before a long corpus read.
    cols = {part: resolve(t, part, mapping) for part, t in (("corpus", corpus), ("queries", queries), ("qrels", qrels))}
    origins = {part: Origin(t.path, t.name, {r: c for r, c in cols[part].items() if c}, t.unit)
               for part, t in (("corpus", corpus), ("queries", queries), ("qrels", qrels))}

    def get(row: dict, column: str | None) -> Any:
        return MISSING if column is None else row.get(column, MISSING)

    c, q, r = cols["corpus"], cols["queries"], cols["qrels"]
    docs = collect_corpus(((n, get(row, c["id"]), get(row, c["title"]), get(row, c["text"])) for n, row in corpus.rows()), origins["corpus"])
    query_texts = collect_queries(((n, get(row, q["id"]), get(row, q["text"])) for n, row in queries.rows()), origins["queries"])
    judgements = collect_qrels(
        ((n, get(row, r["query_id"]), get(row, r["doc_id"]), get(row, r["score"])) for n, row in qrels.rows()),
        origins["qrels"], query_texts, docs.first, queries_name=queries.name, corpus_name=corpus.name,
    )
    return assemble(docs, query_texts, judgements, name=name, source=source, split=split,
                    exclude_self_matches=exclude_self_matches, qrels_origin=origins["qrels"], queries_origin=origins["queries"])
