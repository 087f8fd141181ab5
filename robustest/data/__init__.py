"""Turn a dataset spec into a Dataset: 'default', a folder (BEIR, MTEB, save_to_disk, or
JSONL/CSV/TSV tables, told apart by their files), `mteb:<Task>` or `hf:<org>/<name>` from the
local Hugging Face cache, or an ir_datasets id. A folder or repo with several subsets takes one
as a `#subset` suffix (`mteb:MIRACLRetrieval#en`)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RobustestError
from .beir import load_beir
from .irds import is_registered, load_ir_datasets
from .types import Dataset

__all__ = ["Dataset", "load_beir", "load_dataset", "load_ir_datasets"]


def load_dataset(
    spec: str,
    split: str = "test",
    *,
    cache_dir: str | os.PathLike | None = None,
    exclude_self_matches: bool | None = None,
    fields: dict[str, str] | None = None,
) -> Dataset:
    """Resolve `spec` in order: 'default', 'irds:<id>', 'mteb:<Task>', 'hf:<org>/<name>', an
    existing folder, a registered ir_datasets id. `exclude_self_matches=None` keeps each loader's
    own default; `fields` (--robustest-dataset-fields) names the columns of table-shaped data."""
    # Only pass the flag when set, so each loader keeps its default (on for BEIR data).
    flag = {} if exclude_self_matches is None else {"exclude_self_matches": exclude_self_matches}
    spec = (spec or "").strip()
    if spec in ("", "default"):
        from .default_collection import DEFAULT_DATASET_NAME, default_collection_path

        return load_beir(default_collection_path(cache_dir), split, name=DEFAULT_DATASET_NAME, **flag)
    if spec.startswith("irds:"):
        return load_ir_datasets(_irds_id(spec[len("irds:"):], split), **flag)
    if spec.startswith(("mteb:", "hf:")):
        from .mteb import load_hf_repo, load_mteb_task

        scheme, _, rest = spec.partition(":")
        name, subset = _subset(rest)
        load = load_mteb_task if scheme == "mteb" else load_hf_repo
        return load(name, split, subset=subset, fields=fields, exclude_self_matches=flag.get("exclude_self_matches", True))
    path = Path(spec).expanduser()
    subset = None
    if not path.exists() and "#" in spec:  # folder#subset, unless the folder's name has a '#'
        name, subset = _subset(spec)
        path = Path(name).expanduser()
    if path.exists():  # a file here gets load_beir's "not a folder" message
        from .detect import load_folder

        return load_folder(path, split, subset=subset, fields=fields, **flag)
    if is_registered(spec) or is_registered(f"{spec}/{split}"):
        return load_ir_datasets(_irds_id(spec, split), **flag)
    raise RobustestError(
        f"dataset {spec!r} not found: no folder at {path.absolute()} (and it is not an "
        "ir_datasets id); pass a BEIR folder (corpus.jsonl, queries.jsonl, "
        "qrels/<split>.tsv), 'default', or irds:<id>"
    )


def _subset(spec: str) -> tuple[str, str | None]:
    name, sep, subset = spec.rpartition("#")
    return (name, subset or None) if sep else (spec, None)


def _irds_id(dataset_id: str, split: str) -> str:
    # 'beir/scifact' has no qrels of its own but 'beir/scifact/test' does: when the split
    # names a registered sub-id, use it.
    if is_registered(f"{dataset_id}/{split}"):
        return f"{dataset_id}/{split}"
    return dataset_id
