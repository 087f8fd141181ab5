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
from .build import MISSING, Origin, assemble, collect_corpus, collect_qrels, collect_queries
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

    corpus = collect_corpus(
        ((n, obj.get("_id", MISSING), obj.get("title", MISSING), obj.get("text", MISSING)) for n, obj in _jsonl(corpus_file)),
        corpus_origin(corpus_file),
    )
    queries = collect_queries(
        ((n, obj.get("_id", MISSING), obj.get("text", MISSING)) for n, obj in _jsonl(queries_file)),
        queries_origin(queries_file),
    )
    qrels = _read_qrels(qrels_file, queries, corpus.first)  # the dict doubles as the id set
    return assemble(
        corpus, queries, qrels, name=name or root.name, source=str(root), split=split,
        exclude_self_matches=exclude_self_matches, qrels_origin=qrels_origin(qrels_file),
        queries_origin=queries_origin(queries_file),
    )


def corpus_origin(path: Path) -> Origin:
    return Origin(str(path), path.name, {"id": "_id", "title": "title", "text": "text"})


def queries_origin(path: Path) -> Origin:
    return Origin(str(path), path.name, {"id": "_id", "text": "text"})


def qrels_origin(path: Path) -> Origin:
    return Origin(str(path), path.name, {"query_id": "query-id", "doc_id": "corpus-id", "score": "score"})


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


def _read_qrels(path: Path, queries: dict[str, str], docs: Container[str]) -> dict[str, dict[str, int]]:
    return collect_qrels(_qrels_rows(path, queries), qrels_origin(path), queries, docs,
                         queries_name="queries.jsonl", corpus_name="corpus.jsonl")


def _qrels_rows(path: Path, queries: Container[str]) -> Iterator[tuple[int, str, str, str]]:
    first = True
    for n, line in _lines(path):
        cols = line.rstrip("\r\n").split("\t")
        if len(cols) != 3:
            raise RobustestError(
                f"{path}:{n}: expected 3 tab-separated columns (query-id, corpus-id, score), "
                f"got {len(cols)}; BEIR qrels are not TREC qrels, drop the iteration column "
                "and separate columns with tabs"
            )
        qid, did, score = (c.strip() for c in cols)
        # The header is optional, so recognise it by content: a first line whose score is
        # not a number and whose query id is not a query.
        if first and qid not in queries and not _is_int(score):
            first = False
            continue
        first = False
        yield n, qid, did, score


def _is_int(text: str) -> bool:
    try:
        int(text)
    except ValueError:
        return False
    return True


def load_split_queries(path: str | os.PathLike, split: str, doc_ids: Container[str]) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """The judged queries of another split of a BEIR folder and their qrels, without reading
    the corpus again (`doc_ids`: the corpus already loaded). For the poisoning attacks'
    training queries."""
    root = Path(path).expanduser().absolute()
    qrels_file = _qrels_file(root, split)
    queries_file = root / "queries.jsonl"
    queries = collect_queries(
        ((n, obj.get("_id", MISSING), obj.get("text", MISSING)) for n, obj in _jsonl(queries_file)),
        queries_origin(queries_file),
    )
    qrels = _read_qrels(qrels_file, queries, doc_ids)
    return {q: t for q, t in queries.items() if q in qrels}, qrels
