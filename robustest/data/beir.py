"""Load a BEIR-format folder: corpus.jsonl, queries.jsonl and qrels/<split>.tsv.

Files are streamed line by line (BEIR corpora run to millions of lines), and every
problem is reported as a RobustestError naming the file, the line and the fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Container, Iterator

from ..errors import RobustestError
from .types import Dataset

LAYOUT = "corpus.jsonl, queries.jsonl and qrels/<split>.tsv"


def load_beir(
    path: str | os.PathLike,
    split: str = "test",
    *,
    exclude_self_matches: bool = True,
    name: str | None = None,
) -> Dataset:
    root = Path(path).expanduser().absolute()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise RobustestError(
            f"BEIR folder {root} {what}; pass a folder containing {LAYOUT}"
        )
    corpus_file, queries_file = root / "corpus.jsonl", root / "queries.jsonl"
    for f in (corpus_file, queries_file):
        if not f.is_file():
            raise RobustestError(
                f"missing file {f}: a BEIR folder needs {LAYOUT}; add it or pass another folder"
            )
    qrels_file = _qrels_file(root, split)  # check before the (possibly huge) corpus read

    doc_ids: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    first_line: dict[str, int] = {}
    blank_docs = 0
    for n, obj in _jsonl(corpus_file):
        doc_id = _id_field(obj, corpus_file, n)
        text = _str_field(obj, "text", corpus_file, n)
        title = _str_field(obj, "title", corpus_file, n, required=False)
        if doc_id in first_line:
            raise _duplicate(corpus_file, n, doc_id, first_line[doc_id])
        first_line[doc_id] = n
        doc_ids.append(doc_id)
        titles.append(title)
        texts.append(text)
        if not text.strip() and not title.strip():
            blank_docs += 1
    if not doc_ids:
        raise RobustestError(f"{corpus_file} has no documents; add one JSON object per line")

    queries: dict[str, str] = {}
    query_line: dict[str, int] = {}
    for n, obj in _jsonl(queries_file):
        qid = _id_field(obj, queries_file, n)
        text = _str_field(obj, "text", queries_file, n)
        if qid in query_line:
            raise _duplicate(queries_file, n, qid, query_line[qid])
        query_line[qid] = n
        queries[qid] = text

    qrels = _read_qrels(qrels_file, queries, first_line)  # the dict doubles as the id set
    # Only judged queries can be scored; a query whose judgements are all <= 0 still counts.
    judged = {q: t for q, t in queries.items() if q in qrels}
    if not judged:
        raise RobustestError(
            f"{qrels_file} judges none of the queries in {queries_file}; "
            "add judgements (query-id, corpus-id, score) for at least one query"
        )

    notes = []
    if blank_docs:
        notes.append(f"{blank_docs} documents have blank text and title")
    blank_queries = sum(1 for t in judged.values() if not t.strip())
    if blank_queries:
        notes.append(f"{blank_queries} judged queries have blank text")
    return Dataset(
        name=name or root.name,
        source=str(root),
        split=split,
        doc_ids=tuple(doc_ids),
        titles=tuple(titles),
        texts=tuple(texts),
        queries=judged,
        qrels=qrels,
        exclude_self_matches=exclude_self_matches,
        dropped_queries=len(queries) - len(judged),
        notes=tuple(notes),
    )


def _qrels_file(root: Path, split: str) -> Path:
    qdir = root / "qrels"
    f = qdir / f"{split}.tsv"
    if f.is_file():
        return f
    if not qdir.is_dir():
        raise RobustestError(
            f"missing folder {qdir}: a BEIR folder needs {LAYOUT}; add qrels/{split}.tsv"
        )
    found = sorted(p.stem for p in qdir.glob("*.tsv"))
    if not found:
        raise RobustestError(f"missing file {f}: {qdir} holds no <split>.tsv files; add {split}.tsv")
    raise RobustestError(
        f"missing file {f}: no split '{split}' in {qdir}; pass one of the splits it has: "
        + ", ".join(found)
    )


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) for each non-blank line, decoded as utf-8 one line at a time."""
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, 1):
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")  # tolerate a BOM
            except UnicodeDecodeError as exc:
                raise RobustestError(
                    f"{path}:{n}: not valid utf-8 ({exc.reason} at byte {exc.start}); "
                    "re-save the file as utf-8"
                ) from None
            if line.strip():
                yield n, line


def _jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    for n, line in _lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RobustestError(
                f"{path}:{n}: malformed JSON ({exc.msg.removesuffix(' at')} at column {exc.colno}); "
                "fix or remove that line (one JSON object per line)"
            ) from None
        except RecursionError:
            raise RobustestError(
                f"{path}:{n}: JSON nested too deeply to read; fix or remove that line (one flat JSON object per line)"
            ) from None
        if not isinstance(obj, dict):
            raise RobustestError(
                f"{path}:{n}: expected a JSON object, got {type(obj).__name__}; "
                'write one object per line like {"_id": "1", "text": "..."}'
            )
        if "\\u" in line:  # only a \u escape can make an unpaired surrogate, which no utf-8 file holds
            _check_surrogates(obj, path, n)
        yield n, obj


def _check_surrogates(obj: dict, path: Path, n: int) -> None:
    """A JSON escape such as \\ud800 without its pair decodes to a string that cannot be
    written as utf-8 again (fingerprints, run files, tokenizers): one clear error here."""
    for key, value in obj.items():
        for what, text in (("a key", key), (f'field "{key}"', value)):
            if not isinstance(text, str):
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise RobustestError(
                    f"{path}:{n}: {what} holds an unpaired surrogate \\u{ord(text[exc.start]):04x} at character {exc.start}; "
                    "escapes \\ud800-\\udfff must come in pairs: fix that line"
                ) from None


def _id_field(obj: dict, path: Path, n: int) -> str:
    if "_id" not in obj:
        raise RobustestError(f'{path}:{n}: missing field "_id"; every line needs "_id" and "text"')
    value = obj["_id"]
    # Ids are often written as numbers in the wild; bool is an int subclass but never an id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise RobustestError(
            f'{path}:{n}: field "_id" must be a string or integer, got {type(value).__name__}; '
            'write it as "_id": "some-id"'
        )
    if not value:
        raise RobustestError(f'{path}:{n}: field "_id" is empty; give every line a unique id')
    return value


def _str_field(obj: dict, key: str, path: Path, n: int, required: bool = True) -> str:
    if key not in obj or (obj[key] is None and not required):
        if required:
            raise RobustestError(
                f'{path}:{n}: missing field "{key}"; every line needs "_id" and "{key}"'
            )
        return ""
    value = obj[key]
    if not isinstance(value, str):
        raise RobustestError(
            f'{path}:{n}: field "{key}" must be a string, got {type(value).__name__}; '
            f'write it as "{key}": "..."'
        )
    return value


def _duplicate(path: Path, n: int, id_: str, first: int) -> RobustestError:
    return RobustestError(
        f"{path}:{n}: duplicate _id {id_!r} (first on line {first}); "
        "ids must be unique, remove or rename one of them"
    )


def _read_qrels(path: Path, queries: dict[str, str], docs: Container[str]) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    # Unknown ids: a count and the first line with its id, so the message stays one line.
    unknown = {"q": [0, 0, ""], "d": [0, 0, ""]}
    first = True
    for n, line in _lines(path):
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) != 3:
            raise RobustestError(
                f"{path}:{n}: expected 3 tab-separated columns (query-id, corpus-id, score), "
                f"got {len(cols)}; BEIR qrels are not TREC qrels, drop the iteration column "
                "and separate columns with tabs"
            )
        qid, did, score_text = (c.strip() for c in cols)
        try:
            score = int(score_text)
        except ValueError:
            # The header is optional, so recognise it by content: a first line whose score
            # is not a number and whose query id is not a query.
            if first and qid not in queries:
                first = False
                continue
            raise RobustestError(
                f"{path}:{n}: score {score_text!r} is not an integer; "
                "relevance grades must be whole numbers such as 0, 1, 2"
            ) from None
        first = False
        if not -(2**31) <= score < 2**31:  # trec_eval stores grades as C ints
            raise RobustestError(
                f"{path}:{n}: score {score_text!r} is out of range; relevance grades must be small whole numbers such as 0, 1, 2"
            )
        bad = "q" if qid not in queries else "d" if did not in docs else ""
        if bad:
            u = unknown[bad]
            if not u[0]:
                u[1], u[2] = n, qid if bad == "q" else did
            u[0] += 1
            continue
        qrels.setdefault(qid, {})[did] = score
    for key, kind, other in (("q", "query-id", "queries.jsonl"), ("d", "corpus-id", "corpus.jsonl")):
        count, line, id_ = unknown[key]
        if count:
            more = f" ({count} lines name unknown {kind}s; this is the first)" if count > 1 else ""
            raise RobustestError(
                f"{path}:{line}: unknown {kind} {id_!r}, not in {other}{more}; "
                f"fix the ids in {path.name} or add the missing entries to {other}"
            )
    return qrels


def load_split_queries(path: str | os.PathLike, split: str, doc_ids: Container[str]) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The judged queries of another split of a BEIR folder and their qrels, without reading
    the corpus again (`doc_ids`: the corpus already loaded). For the poisoning attacks'
    training queries."""
    root = Path(path).expanduser().absolute()
    qrels_file = _qrels_file(root, split)
    queries = {_id_field(obj, root / "queries.jsonl", n): _str_field(obj, "text", root / "queries.jsonl", n) for n, obj in _jsonl(root / "queries.jsonl")}
    qrels = _read_qrels(qrels_file, queries, doc_ids)
    return {q: t for q, t in queries.items() if q in qrels}, qrels
