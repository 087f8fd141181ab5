"""A folder of corpus, queries and qrels files in JSONL, CSV or TSV with any field names
(Pyserini's `id`/`contents`, `qid`/`query`, TREC qrels, ...): the columns are named by
`--robustest-dataset-fields` or recognised by their common names (fields.py).

CSV files have a header row. A TSV or .txt file whose first line names no known (or mapped)
field has none and is read by position (MS MARCO's `collection.tsv` is `pid<TAB>passage`,
Pyserini's topics `qid<TAB>query`, TREC qrels `qid 0 docid rel`).
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Iterator

from ..errors import RobustestError
from .beir import _jsonl, _lines
from .fields import FIELDS, Table, dataset_from_tables
from .types import Dataset

STEMS = {"corpus": ("corpus", "collection", "docs", "documents"), "queries": ("queries", "topics")}
EXTENSIONS = (".jsonl", ".csv", ".tsv", ".txt")
# Headerless files, by part and number of cells: the names of their columns.
POSITIONAL = {
    "corpus": {2: ("id", "text"), 3: ("id", "title", "text")},
    "queries": {2: ("id", "text")},
    "qrels": {3: ("query-id", "corpus-id", "score"), 4: ("query-id", "iteration", "corpus-id", "score")},
}
LAYOUT = "corpus.(jsonl|csv|tsv), queries.(jsonl|csv|tsv) and qrels/<split>.(tsv|csv|jsonl|txt) or qrels.<ext>"


def table_files(root: Path, split: str) -> dict[str, Path | None]:
    """The corpus, queries and qrels files of a folder, None for each not found."""

    def first(names) -> Path | None:
        return next((root / n for n in names if (root / n).is_file()), None)

    found = {part: first(f"{stem}{ext}" for stem in stems for ext in EXTENSIONS) for part, stems in STEMS.items()}
    found["qrels"] = first([f"qrels/{split}{ext}" for ext in EXTENSIONS] + [f"qrels.{split}{ext}" for ext in EXTENSIONS]
                           + [f"qrels{ext}" for ext in EXTENSIONS])
    return found


def looks_like_tables(root: Path) -> bool:
    return any(table_files(root, "test")[part] for part in STEMS)


def load_tables(
    path: str | os.PathLike,
    split: str = "test",
    *,
    fields: dict[str, str] | None = None,
    exclude_self_matches: bool = True,
    name: str | None = None,
) -> Dataset:
    root = Path(path).expanduser().absolute()
    files = table_files(root, split)
    for part, f in files.items():
        if f is None:
            splits = sorted({p.stem for p in (root / "qrels").glob("*.*")}) if (root / "qrels").is_dir() else []
            have = f" (the splits there: {', '.join(splits)})" if part == "qrels" and splits else ""
            raise RobustestError(
                f"{root}: no {part} file for split {split!r}{have}; a folder of tables needs {LAYOUT}"
            )
    mapping = fields or {}
    tables = {part: read_table(f, part, mapping) for part, f in files.items()}
    return dataset_from_tables(
        tables["corpus"], tables["queries"], tables["qrels"], mapping=mapping,
        name=name or root.name, source=str(root), split=split, exclude_self_matches=exclude_self_matches,
    )


def read_table(path: Path, part: str, mapping: dict[str, str]) -> Table:
    if path.suffix == ".jsonl":
        return jsonl_table(path)
    return delimited_table(path, part, mapping)


def jsonl_table(path: Path) -> Table:
    # JSON lines have no schema: the first object's keys stand for the columns; a later line
    # without one gets build.py's "missing field" error with its line number.
    first = next(_jsonl(path), (0, {}))[1]
    return Table(str(path), path.name, tuple(first), lambda: _jsonl(path), unit="line")


def delimited_table(path: Path, part: str, mapping: dict[str, str]) -> Table:
    known = {name for _, _, names in FIELDS.values() for name in names} | set(mapping.values())
    first = next(_cells(path), None)
    if first is None:
        return Table(str(path), path.name, (), lambda: iter(()), unit="line")
    _, header = first
    if path.suffix == ".csv" or any(cell in known for cell in header):  # a CSV file always has a header
        columns, skip = tuple(header), 1
    else:
        columns, skip = POSITIONAL[part].get(len(header), tuple(header)), 0

    def rows() -> Iterator[tuple[int, dict]]:
        for i, (n, cells) in enumerate(_cells(path)):
            if i < skip:
                continue
            if len(cells) != len(columns):
                raise RobustestError(
                    f"{path}:{n}: {len(cells)} cells where the {'header has' if skip else 'first line has'} {len(columns)} "
                    f"({', '.join(columns)}); give every line the same columns"
                )
            yield n, dict(zip(columns, cells))

    return Table(str(path), path.name, columns, rows, unit="line")


def _cells(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of each non-blank line: TREC's .txt split on whitespace, TSV on tabs
    with quotes taken literally (MS MARCO passages hold unbalanced quotes), CSV as csv reads it."""
    if path.suffix == ".txt":
        for n, line in _lines(path):
            yield n, line.split()
        return
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # passages run past csv's 128 KiB default
    tsv = path.suffix == ".tsv"
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter="\t" if tsv else ",", quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL)
            for cells in reader:
                if any(c.strip() for c in cells):
                    yield reader.line_num, [c.strip() if tsv else c for c in cells]
    except UnicodeDecodeError as exc:
        raise RobustestError(f"{path}: not valid utf-8 ({exc.reason} at byte {exc.start}); re-save the file as utf-8") from None
    except csv.Error as exc:
        raise RobustestError(f"{path}: malformed {'TSV' if tsv else 'CSV'} ({exc}); fix the quoting of that line") from None
