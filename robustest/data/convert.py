"""`robustest convert`: any dataset form robustest reads, written as a BEIR folder
(corpus.jsonl, queries.jsonl, qrels/<split>.tsv) that any BEIR tool reads back.

The folder is written next to its destination under a temporary name and renamed at the end,
so a failure (a bad input line, a full disk) leaves nothing half-written.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import RobustestError
from .types import Dataset


def write_beir(dataset: Dataset, folder: Path, split: str) -> None:
    """The Dataset's documents, judged queries and qrels as BEIR files in `folder` (existing)."""
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for did, title, text in zip(dataset.doc_ids, dataset.titles, dataset.texts):
            f.write(json.dumps({"_id": did, "title": title, "text": text}, ensure_ascii=False) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in dataset.queries.items():
            f.write(json.dumps({"_id": qid, "text": text}, ensure_ascii=False) + "\n")
    (folder / "qrels").mkdir()
    with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, judged in dataset.qrels.items():
            for did, score in judged.items():
                f.write(f"{qid}\t{did}\t{score}\n")


def convert(source: str, destination: str | os.PathLike, *, split: str = "test", fields: dict[str, str] | None = None,
            force: bool = False) -> tuple[Dataset, Path]:
    """Read `source` (any --robustest-dataset value) and write it to `destination` as BEIR."""
    from . import load_dataset

    dest = Path(destination).expanduser().absolute()
    if dest.exists() and not dest.is_dir():
        raise RobustestError(f"{dest} is a file; name a folder to write the BEIR dataset into")
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise RobustestError(f"{dest} is not empty; choose an empty or new folder, or pass --force to replace it")
    if Path(source).expanduser().absolute() == dest:
        raise RobustestError(f"{dest} is the source itself; write the BEIR folder elsewhere")
    # Read first: a bad input fails before anything is written.
    dataset = load_dataset(source, split, fields=fields)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        write_beir(dataset, staging, split)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dataset, dest
