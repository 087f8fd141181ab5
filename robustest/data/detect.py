"""Which form a dataset folder is in, told by its files, and the loader for it."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import RobustestError
from .beir import load_beir
from .hf_disk import is_saved_folder, load_saved
from .mteb import is_mteb_folder, load_mteb_folder
from .tables import load_tables, table_files
from .types import Dataset

LOOKED_FOR = (
    "a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv), an MTEB folder (README.md "
    "whose front matter lists configs: corpus, queries, default), a save_to_disk folder "
    "(corpus/, queries/, qrels/ each with state.json or dataset_dict.json), or tables "
    "(corpus and queries as .jsonl/.csv/.tsv, qrels/<split>.<ext> or qrels.<ext>)"
)
BEIR_FILES = ("corpus.jsonl", "queries.jsonl", "qrels")
OTHER_IDS = ("id", "docid", "doc_id", "doc-id", "pid")  # a JSONL corpus with these is not BEIR's
QUERY_IDS = ("id", "qid", "query_id", "query-id")


def load_folder(
    path: Path,
    split: str,
    *,
    subset: str | None = None,
    fields: dict[str, str] | None = None,
    exclude_self_matches: bool = True,
) -> Dataset:
    root = path.absolute()
    if not root.is_dir():
        return load_beir(root, split, exclude_self_matches=exclude_self_matches)  # its "not a folder" message
    if is_mteb_folder(root):
        return load_mteb_folder(root, split, subset=subset, fields=fields, exclude_self_matches=exclude_self_matches)
    if subset is not None:
        raise RobustestError(f"{root}#{subset}: only an MTEB folder has subsets, and {root} has no README.md with configs:; drop #{subset}")
    if is_saved_folder(root):
        return load_saved(root, split, fields=fields, exclude_self_matches=exclude_self_matches)
    if is_tables(root, split, fields):
        return load_tables(root, split, fields=fields, exclude_self_matches=exclude_self_matches)
    if any((root / f).exists() for f in BEIR_FILES):  # a BEIR folder missing a part: its own messages
        return load_beir(root, split, exclude_self_matches=exclude_self_matches)
    raise RobustestError(f"{root}: no dataset recognised; looked for {LOOKED_FOR}")


def is_tables(root: Path, split: str, fields: dict[str, str] | None) -> bool:
    """Tables rather than BEIR: a corpus or queries file that is not BEIR's corpus.jsonl or
    queries.jsonl, a field mapping, or a corpus.jsonl whose first line has another id field."""
    found = [f for part, f in table_files(root, split).items() if part != "qrels" and f is not None]
    if not found:
        return False
    if fields or any(f.name not in BEIR_FILES for f in found):
        return True
    return any("_id" not in keys and not keys.isdisjoint(others)
               for keys, others in ((_first_keys(root / "corpus.jsonl"), OTHER_IDS), (_first_keys(root / "queries.jsonl"), QUERY_IDS)))


def _first_keys(path: Path) -> set[str]:
    """The keys of a JSONL file's first object; empty when unreadable (load_beir then says why)."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            for line in fh:
                if line.strip():
                    obj = json.loads(line)
                    return set(obj) if isinstance(obj, dict) else set()
    except (OSError, ValueError, RecursionError):
        return set()
    return set()
