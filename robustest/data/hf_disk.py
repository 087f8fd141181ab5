"""Folders written by `datasets`' `save_to_disk`, in either of two layouts:

- one subfolder per part, `corpus/`, `queries/` and `qrels/` (or `default/`, MTEB's name for the
  qrels), each a saved Dataset (state.json) or a saved DatasetDict keyed by split
  (dataset_dict.json). The qrels must have the split asked for; the corpus and queries may have
  it or be a single table;
- one saved DatasetDict whose entries are `corpus`, `queries` and the qrels of each split
  (`test`, `dev`, ...).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RobustestError
from .fields import dataset_from_tables
from .hf_common import hf_table, pick_split, require_datasets
from .types import Dataset

PARTS = {"corpus": ("corpus",), "queries": ("queries",), "qrels": ("qrels", "default")}
LAYOUT = "a DatasetDict (corpus, queries, <split>) or subfolders corpus/, queries/ and qrels/ (or default/), each written by Dataset.save_to_disk or DatasetDict.save_to_disk"


def is_saved(folder: Path) -> bool:
    return (folder / "state.json").is_file() or (folder / "dataset_dict.json").is_file()


def is_saved_folder(root: Path) -> bool:
    return (root / "dataset_dict.json").is_file() or any(is_saved(root / name) for names in PARTS.values() for name in names)


def load_saved(
    path: str | os.PathLike,
    split: str = "test",
    *,
    fields: dict[str, str] | None = None,
    exclude_self_matches: bool = True,
    name: str | None = None,
) -> Dataset:
    datasets = require_datasets("a save_to_disk folder")
    root = Path(path).expanduser().absolute()
    if (root / "dataset_dict.json").is_file():
        tables = one_dict(datasets, root, split)
    else:
        # The qrels first: their split is the likeliest mistake.
        tables = {part: part_table(datasets, root, part, split) for part in ("qrels", "corpus", "queries")}
    return dataset_from_tables(
        tables["corpus"], tables["queries"], tables["qrels"], mapping=fields,
        name=name or root.name, source=str(root), split=split, exclude_self_matches=exclude_self_matches,
    )


def _load(datasets, folder: Path):
    try:
        return datasets.load_from_disk(str(folder))  # memory-mapped Arrow: no copy
    except Exception as exc:
        raise RobustestError(f"{folder}: datasets cannot load it ({type(exc).__name__}: {exc}); save it again with save_to_disk") from None


def one_dict(datasets, root: Path, split: str) -> dict:
    saved = _load(datasets, root)
    missing = [k for k in ("corpus", "queries") if k not in saved]
    if missing:
        raise RobustestError(f"{root}: a saved DatasetDict needs entries corpus, queries and the qrels' split; it has {', '.join(saved)}, not {', '.join(missing)}")
    qrels_splits = [k for k in saved if k not in ("corpus", "queries")]
    chosen = pick_split(qrels_splits, split, f"{root} (its qrels)", required=True)
    return {part: hf_table(saved[key], f"{root} [{key}]", f"{root.name}[{key}]")
            for part, key in (("corpus", "corpus"), ("queries", "queries"), ("qrels", chosen))}


def part_table(datasets, root: Path, part: str, split: str):
    folder = next((root / n for n in PARTS[part] if is_saved(root / n)), None)
    if folder is None:
        raise RobustestError(f"{root}: no saved {part} (looked for {', '.join(n + '/' for n in PARTS[part])}); the folder needs {LAYOUT}")
    saved = _load(datasets, folder)
    where = str(folder)
    if isinstance(saved, datasets.DatasetDict):
        chosen = pick_split(list(saved), split, where, required=part == "qrels")
        saved, where = saved[chosen], f"{folder} [split {chosen}]"
    return hf_table(saved, where, f"{folder.name}/")
