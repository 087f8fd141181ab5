"""Per-query tables: the numbers behind every gate, one row per (family, seed, query), for
pandas, duckdb or a spreadsheet.

Built from a run file (robustest.runs), so a saved run converts as well as a finished one:
`--robustest-per-query=PATH`, `robustest report RUN.json --per-query PATH`,
`report.to_frame("queries")`. Every family has seeds x queries rows: a query that got no variant
under a seed keeps its row, with variant, edit, perturbed, drop and rank_after null. A run file
saved before ranks were recorded converts with null rank columns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .errors import RobustestError

# Column -> pandas dtype. Nullable strings and integers: a column's type does not depend on
# whether it happens to hold a null, so the Parquet schema is the same for every run.
COLUMNS = {
    "retriever": "string",
    "dataset": "string",
    "family": "string",
    "seed": "int64",
    "query_id": "string",
    "query": "string",  # the original text
    "variant": "string",  # null: no variant of this query under this seed
    "prompt": "string",  # the query prompt the variant was encoded after, when not the retriever's own
    "edit": "string",
    "measure": "string",
    "clean": "float64",
    "perturbed": "float64",
    "drop": "float64",  # clean - perturbed
    "rank_before": "Int64",  # the best relevant document's rank; null: not in the top rank_depth
    "rank_after": "Int64",
    "rank_depth": "Int64",  # how deep the ranked lists go; null: the run file has no ranks
}


def per_query_rows(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One dict per (family, seed, query) of a run file, keyed by COLUMNS."""
    head = {"retriever": run["retriever"].get("name"), "dataset": run["dataset"].get("name")}
    texts = run.get("queries") or {}
    rows = []
    for family, record in run["families"].items():
        ranks = record.get("ranks") or {}
        for seed in record["seeds"]:
            variants = record["variants"].get(str(seed), {})
            scores = record["perturbed"].get(str(seed), {})
            ranks_after = (ranks.get("perturbed") or {}).get(str(seed), {})
            for qid, clean in record["clean"].items():
                variant = variants.get(qid, {})
                perturbed = scores.get(qid)
                rows.append({
                    **head,
                    "family": family,
                    "seed": int(seed),
                    "query_id": qid,
                    "query": texts.get(qid),
                    "variant": variant.get("text"),
                    "prompt": variant.get("prompt"),
                    "edit": variant.get("edit"),
                    "measure": record["measure"],
                    "clean": clean,
                    "perturbed": perturbed,
                    "drop": None if clean is None or perturbed is None else clean - perturbed,
                    "rank_before": (ranks.get("clean") or {}).get(qid),
                    "rank_after": ranks_after.get(qid),
                    "rank_depth": ranks.get("depth"),
                })
    return rows


def per_query_frame(run: Mapping[str, Any]):
    """The rows as a pandas DataFrame with the dtypes of COLUMNS (NaN scores where no variant)."""
    try:
        import pandas as pd
    except ImportError:
        raise RobustestError("the per-query table needs pandas: pip install pandas (or read robustest.per_query.per_query_rows)") from None
    return pd.DataFrame(per_query_rows(run), columns=list(COLUMNS)).astype(COLUMNS)


def write_per_query(run: Mapping[str, Any], path: str | Path) -> Path:
    """Write the table to a .parquet (pyarrow) or .csv file, atomically: a failed write leaves the
    previous file, never half of one."""
    from .files import atomic_write

    try:
        path = Path(parse_table_path(str(path))).expanduser()
    except ValueError as exc:
        raise RobustestError(f"per-query table: {exc}") from None
    parquet = path.suffix.lower() == ".parquet"
    if parquet:
        require_pyarrow(f"writing {path}")
    frame = per_query_frame(run)
    if parquet:
        atomic_write(path, lambda f: frame.to_parquet(f, index=False, engine="pyarrow"))
    else:
        atomic_write(path, lambda f: frame.to_csv(f, index=False, encoding="utf-8"))
    return path


def parse_table_path(value: str) -> str:
    """A file name ending in .parquet or .csv (--robustest-per-query's parser)."""
    if not str(value).lower().endswith((".parquet", ".csv")):
        raise ValueError(f"{value!r} is not a .parquet or .csv file; name one, e.g. per-query.parquet (or per-query.csv without pyarrow)")
    return str(value)


def require_pyarrow(what: str) -> None:
    """Checked without importing pyarrow: the plugin checks it before any work."""
    import importlib.util

    if importlib.util.find_spec("pyarrow") is None:
        raise RobustestError(f"{what} needs pyarrow: pip install 'robustest[parquet]' (or pyarrow), or name a .csv file")
