"""The run file: one versioned JSON document per run, enough to gate a later checkpoint.

A run holds who was tested (retriever fingerprint and config), on what (dataset fingerprint,
split), and per family every variant text per seed and query with its score, so a later run
can replay exactly the same perturbed queries (`frozen_perturber`) and compare query by query.

Schema history: 1 = session 1's results file (no variant texts; cannot be a baseline);
2 = adds `families` with variants and per-query scores. Optional keys added within schema 2
(older files lack them, readers must not require them): `environment` (where the run was made,
robustest.provenance) and `dataset.subsample` ({"queries", "of"} when the max_queries setting cut the
queries, else null); `verdict` (the run's headline, robustest.headline); `lineage` (against a
saved baseline: the anchor and the chain of accepted runs, robustest.lineage); in `comparison`,
`judged_outside_tests` and each regression's `reference` ("baseline" or "anchor"); in a family,
`acts_on` ("instruction" for the instruction families, "document_prompt" for the family that
re-encodes documents without their prompt, "documents" for the document-noise families) and each variant's `prompt` (the exact
query prompt it was encoded after, where that is not the retriever's own); in a family, `ranks` (the best relevant
document's rank per query before and after, `family_ranks`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from .errors import RobustestError
from .files import write_json

RUN_SCHEMA = 2
REQUIRED = ("schema", "robustest_version", "retriever", "dataset", "effectiveness", "per_query", "families")


@dataclass(frozen=True)
class FrozenEdit:
    """A variant replayed from a saved run: the text is fixed, whatever the query is now."""

    text: str
    edit: str

    def apply(self, query: str) -> str:
        return self.text

    def describe(self, original: str) -> str:
        return self.edit


def family_record(run) -> dict[str, Any]:
    """The JSON form of a `stability.FamilyRun`: texts, scores and drop rates per seed."""
    from .stats import seed_drop_rates, summarize_seeds

    position = {q: i for i, q in enumerate(run.qids)}
    variants: dict[str, dict[str, dict[str, str]]] = {}
    perturbed: dict[str, dict[str, float]] = {}
    for s, p in enumerate(run.perturbations):
        key = str(p.seed)
        variants[key] = {v.query_id: {"text": v.text, "edit": v.describe(), **({} if v.prompt is None else {"prompt": v.prompt})} for v in p.variants}
        perturbed[key] = {v.query_id: float(run.perturbed[s, position[v.query_id]]) for v in p.variants}
    rates = seed_drop_rates(run.clean, run.perturbed)
    mean, std = summarize_seeds(rates)
    prompted = any(v.prompt is not None for p in run.perturbations for v in p.variants)
    acts_on = getattr(run, "acts_on", None) or ("instruction" if prompted else None)
    return {
        **({"acts_on": acts_on} if acts_on else {}),
        "measure": run.measure,
        "seeds": list(run.seeds),
        "clean": {q: float(v) for q, v in zip(run.qids, run.clean)},
        "variants": variants,
        "perturbed": perturbed,
        "drop_rates": [float(r) for r in rates],
        "drop_rate_mean": float(mean),
        "drop_rate_std": float(std),
        "ranks": family_ranks(run),
    }


def family_ranks(run) -> dict[str, Any]:
    """The rank of each query's best relevant document before and after (None: not in the top
    `depth`), read from the scored runs: no second search. `depth` is how deep the family's
    measure retrieved (nDCG@10: 10); the clean runs may go deeper and are cut there, so before
    and after are read at one depth."""
    from .retrieval import depth_needed
    from .stability import first_relevant

    depth = depth_needed([run.measure], run.index.k)

    def rank(ranked, qid: str) -> int | None:
        return first_relevant(list(ranked)[:depth], run.qrels[qid])

    clean_runs = dict(zip(run.clean_evaluation.qids, run.clean_evaluation.runs))
    clean = {q: rank(clean_runs[q], q) for q in run.qids}
    perturbed: dict[str, dict[str, int | None]] = {}
    rows = iter(run.evaluation.runs)  # every variant of every seed, in perturbation order
    for p in run.perturbations:
        perturbed[str(p.seed)] = {v.query_id: rank(next(rows), v.query_id) for v in p.variants}
    return {"depth": depth, "clean": clean, "perturbed": perturbed}


def frozen_perturber(record: Mapping[str, Any], family: str) -> Callable[[Mapping[str, str], int], Any]:
    """`perturb(queries, seed)` that returns the saved variants of one family (the same texts
    for the same queries), for `stability.run_family`."""
    from .perturb.protocol import Perturbed, Variant

    def perturb(queries: Mapping[str, str], seed: int) -> Perturbed:
        saved = record["variants"].get(str(seed))
        if saved is None:
            raise RobustestError(
                f"the baseline has no {family} variants for seed {seed} (it has seeds "
                f"{', '.join(record['variants'])}); run with the baseline's seeds or drop --robustest-seeds"
            )
        variants, skipped = [], {}
        for qid in sorted(queries):
            if qid in saved:
                edit = FrozenEdit(saved[qid]["text"], saved[qid]["edit"])
                variants.append(Variant(qid, queries[qid], edit.text, edit, saved[qid].get("prompt")))
            else:
                skipped[qid] = "no variant in the baseline run"
        return Perturbed(family, seed, tuple(variants), skipped)

    return perturb


def save_run(path: str | Path, run: Mapping[str, Any]) -> Path:
    """Write atomically: a crash mid-write leaves the previous file, never half a run."""
    path = Path(path)
    if not path.parent.is_dir():
        what = "is a file, not a folder" if path.parent.exists() else "does not exist"
        raise RobustestError(f"cannot write the run file {path}: {path.parent} {what}; create the folder or save elsewhere")
    write_json(path, dict(run))
    return path


def load_run(path: str | Path) -> dict[str, Any]:
    """Read and validate a run file; every problem is one error naming the file and the fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RobustestError(f"run file {path} does not exist; save one with --robustest-save={path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RobustestError(f"run file {path} cannot be read ({exc})") from None
    try:
        run = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RobustestError(
            f"run file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "it may be truncated or edited by hand: save it again with --robustest-save"
        ) from None
    except RecursionError:
        raise RobustestError(f"run file {path} is JSON nested too deeply to be a run file; save it again with --robustest-save") from None
    if not isinstance(run, dict) or "schema" not in run:
        raise RobustestError(f"{path} is not a robustest run file (no schema field); save one with --robustest-save")
    schema = run["schema"]
    if type(schema) is not int:
        raise RobustestError(f"run file {path} has schema {schema!r}, not a version number: it is damaged; save it again with --robustest-save")
    if schema != RUN_SCHEMA:
        from . import __version__

        older = isinstance(schema, int) and schema < RUN_SCHEMA
        raise RobustestError(
            f"run file {path} has schema {schema!r}, robustest {__version__} reads schema {RUN_SCHEMA}; "
            + ("save the baseline again with this version (--robustest-save)" if older else "upgrade robustest to read it")
        )
    missing = [k for k in REQUIRED if k not in run]
    if missing:
        raise RobustestError(f"run file {path} lacks {', '.join(missing)}: it is damaged; save it again with --robustest-save")
    problem = shape_problem(run)
    if problem:
        raise RobustestError(f"run file {path}: {problem}: it is damaged; save it again with --robustest-save")
    return run


# The JSON type of each top-level key a reader relies on (optional keys may also be null).
SHAPES = {"retriever": dict, "dataset": dict, "effectiveness": dict, "per_query": dict, "families": dict}
OPTIONAL_SHAPES = {"environment": dict, "settings": dict, "queries": dict, "gates": list, "comparison": dict, "poisoning": dict, "geometry": dict, "lineage": dict, "verdict": str}
NAMES = {dict: "an object", list: "a list", str: "a string"}


def shape_problem(run: Mapping[str, Any]) -> str | None:
    """What is wrong with the structure of a run (a value of the wrong JSON type), or None.
    Only the structure readers walk: a hand-edited file fails here, not halfway into a report."""

    def wrong(where: str, value: Any, kind: type) -> str | None:
        return None if isinstance(value, kind) else f"{where} is {_json_type(value)}, not {NAMES[kind]}"

    for key, kind in SHAPES.items():
        problem = wrong(key, run[key], kind)
        if problem:
            return problem
    for key, kind in OPTIONAL_SHAPES.items():
        if run.get(key) is not None and (problem := wrong(key, run[key], kind)):
            return problem
    for name, value in run["effectiveness"].items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return f"effectiveness {name} is {_json_type(value)}, not a number"
    for measure, scores in run["per_query"].items():
        if problem := wrong(f"per_query {measure}", scores, dict):
            return problem
    for i, gate in enumerate(run.get("gates") or []):
        if problem := wrong(f"gate {i + 1}", gate, dict):
            return problem
    for family, record in run["families"].items():
        if problem := wrong(f"family {family}", record, dict):
            return problem
        absent = [k for k in ("measure", "seeds", "clean", "variants", "perturbed") if k not in record]
        if absent:
            return f"family {family} lacks {', '.join(absent)}"
        for key, kind in (("seeds", list), ("clean", dict), ("variants", dict), ("perturbed", dict)):
            if problem := wrong(f"family {family} {key}", record[key], kind):
                return problem
        for seed, by_query in record["variants"].items():
            if problem := wrong(f"family {family} variants of seed {seed}", by_query, dict):
                return problem
            for qid, variant in by_query.items():
                if not isinstance(variant, dict) or not isinstance(variant.get("text"), str):
                    return f"family {family} variant of query {qid} (seed {seed}) is not an object with a text"
        for seed, by_query in record["perturbed"].items():
            if problem := wrong(f"family {family} perturbed scores of seed {seed}", by_query, dict):
                return problem
        if record.get("ranks") is not None and (problem := wrong(f"family {family} ranks", record["ranks"], dict)):
            return problem
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return NAMES.get(type(value), type(value).__name__)


def check_same_dataset(baseline: Mapping[str, Any], dataset: Mapping[str, Any], origin: str) -> None:
    """A comparison is paired only on the same queries and judgements: anything else is an error."""
    theirs = baseline["dataset"]
    if theirs.get("fingerprint") == dataset["fingerprint"]:
        return
    what = f"{theirs.get('name')} [{theirs.get('split')}] with {theirs.get('queries')} queries"
    ours = f"{dataset['name']} [{dataset['split']}] with {dataset['queries']} queries"
    raise RobustestError(
        f"{origin} was measured on {what}, this run on {ours} (the queries or judgements differ); "
        "gate against a run of the same --robustest-dataset, --robustest-split and --robustest-max-queries"
    )
