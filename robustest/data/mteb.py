"""MTEB retrieval datasets: a folder that `datasets.load_dataset(folder, config)` reads with
configs `corpus`, `queries` and `default` (or `qrels`), one qrels split per eval split, as
`huggingface_hub.snapshot_download` leaves an MTEB repo (parquet files named in README.md's
`configs:`); multi-subset tasks prefix each config with the subset (`en-corpus`).

`hf:<org>/<name>[@revision]` finds such a repo in the local Hugging Face cache, and
`mteb:<TaskName>` first asks the `mteb` package which repo holds the task's data. Nothing here
downloads: robustest runs offline, so a repo not in the cache is an error saying how to get it.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import RobustestError
from .fields import dataset_from_tables
from .hf_common import hf_table, pick_split, require_datasets
from .types import Dataset


def is_mteb_folder(root: Path) -> bool:
    """A dataset card whose front matter declares configs: how the hub marks a data repo."""
    card = root / "README.md"
    if not card.is_file():
        return False
    head = card.read_text(encoding="utf-8", errors="replace")[:200_000]
    return head.startswith("---") and "\nconfigs:" in head


def subsets_of(configs: list[str]) -> list[str]:
    return sorted(c.removesuffix("-corpus") for c in configs if c.endswith("-corpus"))


def load_mteb_folder(
    path: str | os.PathLike,
    split: str = "test",
    *,
    subset: str | None = None,
    fields: dict[str, str] | None = None,
    exclude_self_matches: bool = True,
    name: str | None = None,
    source: str | None = None,
) -> Dataset:
    datasets = require_datasets("an MTEB dataset folder")
    root = Path(path).expanduser().absolute()
    folder = str(root)
    try:
        configs = datasets.get_dataset_config_names(folder)
    except Exception as exc:  # a malformed card or data file: the library's own words, on one line
        raise RobustestError(f"{root}: datasets cannot read this folder ({_short(exc)}); check README.md's configs:") from None
    prefix = _prefix(configs, subset, root)
    corpus_config = f"{prefix}corpus"
    queries_config = next((c for c in (f"{prefix}queries", "query") if c in configs), None)
    qrels_config = next((c for c in ((f"{prefix}qrels",) if prefix else ("default", "qrels")) if c in configs), None)
    missing = [what for what, c in (("corpus", corpus_config if corpus_config in configs else None),
                                    ("queries", queries_config), ("qrels", qrels_config)) if c is None]
    if missing:
        raise RobustestError(
            f"{root}: no {' or '.join(missing)} config (its configs: {', '.join(configs)}); an MTEB retrieval "
            f"folder has configs {prefix}corpus, {prefix}queries and {(prefix + 'qrels') if prefix else 'default'}"
        )

    def table(config: str, required: bool):
        where = f"{root} [config {config}]"
        chosen = pick_split(datasets.get_dataset_split_names(folder, config), split, where, required=required)
        # Streaming reads the parquet files where they are, without an Arrow copy in the cache.
        ds = datasets.load_dataset(folder, config, split=chosen, streaming=True)
        return hf_table(ds, f"{root} [config {config}, split {chosen}]", f"config {config}")

    try:
        qrels = table(qrels_config, required=True)  # the split is the likeliest mistake: first
        return dataset_from_tables(
            table(corpus_config, False), table(queries_config, False), qrels, mapping=fields,
            name=name or (f"{root.name}-{subset}" if subset else root.name), source=source or str(root),
            split=split, exclude_self_matches=exclude_self_matches,
        )
    except RobustestError:
        raise
    except Exception as exc:  # a damaged parquet file surfaces while reading
        raise RobustestError(f"{root}: datasets could not read the data ({_short(exc)}); re-download the folder") from None


def _prefix(configs: list[str], subset: str | None, root: Path) -> str:
    subsets = subsets_of(configs)
    if subset is not None:
        if subset not in subsets:
            listed = ", ".join(subsets) if subsets else "none: it has one dataset, drop the subset"
            raise RobustestError(f"{root}: no subset {subset!r}; its subsets: {listed}")
        return f"{subset}-"
    if "corpus" in configs or not subsets:
        return ""
    if len(subsets) == 1:
        return f"{subsets[0]}-"
    raise RobustestError(
        f"{root} holds {len(subsets)} subsets ({', '.join(subsets)}); pick one by ending the dataset "
        f"with #SUBSET, e.g. --robustest-dataset={root}#{subsets[0]}"
    )


def cached_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """The folder of a dataset repo in the local Hugging Face cache (HF_HUB_CACHE), never fetched."""
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, local_files_only=True))
    except Exception as exc:  # not cached (LocalEntryNotFoundError), a bad repo id (HFValidationError), ...
        from huggingface_hub import constants

        pinned = f" --revision {revision}" if revision else ""
        raise RobustestError(
            f"dataset repo {repo_id}{'@' + revision if revision else ''} is not in the local Hugging Face cache "
            f"({constants.HF_HUB_CACHE}; {_short(exc)}); fetch it on a machine with internet access "
            f"(hf download --repo-type dataset {repo_id}{pinned}) and copy the cache, or pass the dataset's folder"
        ) from None


def load_hf_repo(spec: str, split: str, *, subset: str | None, fields, exclude_self_matches: bool) -> Dataset:
    """`hf:<org>/<name>[@revision]` from the local cache."""
    repo_id, _, revision = spec.partition("@")
    folder = cached_snapshot(repo_id, revision or None)
    return load_mteb_folder(folder, split, subset=subset, fields=fields, exclude_self_matches=exclude_self_matches,
                            name=repo_id.rsplit("/", 1)[-1] + (f"-{subset}" if subset else ""), source=f"hf:{spec}")


def mteb_repo(task_name: str) -> tuple[str, str | None]:
    """The Hugging Face dataset repo (and pinned revision) holding an MTEB task's data."""
    try:
        import mteb  # lazy and optional: only its task registry is needed
    except ImportError:
        raise RobustestError(
            f"mteb:{task_name} needs the mteb package to find the task's dataset; run pip install mteb, "
            "or pass the dataset as hf:<org>/<name> or as its folder"
        ) from None
    try:
        task = mteb.get_task(task_name)
    except Exception as exc:  # KeyError or ValueError, with close names when mteb has them
        raise RobustestError(f"mteb:{task_name}: not an MTEB task ({_short(exc)}); check the name with mteb.get_tasks()") from None
    dataset = dict(task.metadata.dataset or {})
    if "path" not in dataset:
        raise RobustestError(f"mteb:{task_name}: its metadata names no dataset repo; pass the dataset's folder")
    return dataset["path"], dataset.get("revision")


def load_mteb_task(task_name: str, split: str, *, subset: str | None, fields, exclude_self_matches: bool) -> Dataset:
    repo_id, revision = mteb_repo(task_name)
    folder = cached_snapshot(repo_id, revision)
    return load_mteb_folder(folder, split, subset=subset, fields=fields, exclude_self_matches=exclude_self_matches,
                            name=task_name + (f"-{subset}" if subset else ""), source=f"mteb:{task_name}")


def _short(exc: BaseException) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= 240 else text[:237] + "..."
