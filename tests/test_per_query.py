"""The per-query table (--robustest-per-query, report.to_frame("queries"), robustest report --per-query):
one row per family, seed and query, equal to the run file, readable by pandas and duckdb.

The real embedded model on 20 real cranfield queries; one robustest.check run gates a query family
(nDCG@10), one scored by RR@10 (so each score is 1 / the rank the table gives) and a document family
(its ranks come from the changed corpus' scored runs)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import robustest
from robustest.errors import RobustestError
from robustest.per_query import COLUMNS, per_query_frame, write_per_query
from conftest import validate_run_file

FAMILIES = ["misspelling", "reordering", "truncation"]
SEEDS = [1999, 5]


@pytest.fixture(scope="module")
def checked(small_cranfield, cache_dir, tmp_path_factory):
    """A check that writes the run file and the table; (report, run file dict, table path)."""
    folder = tmp_path_factory.mktemp("per-query")
    report = robustest.check(
        dataset=str(small_cranfield), families=FAMILIES, seeds=SEEDS, family_set="reordering.measure=RR@10", cache_dir=str(cache_dir),
        save=str(folder / "run.json"), per_query=str(folder / "queries.parquet"), verbose=False,
    )
    return report, validate_run_file(folder / "run.json"), folder / "queries.parquet"


def expected_rows(run: dict) -> dict[tuple, dict]:
    """(family, seed, query id) -> what the run file says of it."""
    out = {}
    for family, record in run["families"].items():
        for seed in record["seeds"]:
            for qid, clean in record["clean"].items():
                variant = record["variants"][str(seed)].get(qid)
                out[(family, seed, qid)] = {
                    "clean": clean, "perturbed": record["perturbed"][str(seed)].get(qid), "variant": None if variant is None else variant["text"],
                    "rank_before": record["ranks"]["clean"][qid], "rank_after": record["ranks"]["perturbed"][str(seed)].get(qid),
                }
    return out


def missing(value) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def rank(value) -> int | None:
    return None if missing(value) else int(value)


def test_the_parquet_table_is_the_run_file_row_by_row(checked):
    _, run, path = checked
    table = pd.read_parquet(path)
    assert list(table.columns) == list(COLUMNS)
    assert {c: str(t) for c, t in table.dtypes.items()} == {c: str(pd.Series(dtype=t).dtype) for c, t in COLUMNS.items()}
    assert len(table) == len(FAMILIES) * len(SEEDS) * 20  # families x seeds x queries
    assert not table.duplicated(["family", "seed", "query_id"]).any()
    expected = expected_rows(run)
    assert set(expected) == {(r.family, r.seed, r.query_id) for r in table.itertuples()}
    for row in table.to_dict("records"):
        want = expected[(row["family"], row["seed"], row["query_id"])]
        assert row["query"] == run["queries"][row["query_id"]]
        assert row["clean"] == pytest.approx(want["clean"])
        assert rank(row["rank_before"]) == want["rank_before"]
        if want["variant"] is None:  # no variant under this seed: the row is there, with nothing after
            assert missing(row["variant"]) and missing(row["perturbed"]) and missing(row["drop"]) and missing(row["rank_after"])
        else:
            assert row["variant"] == want["variant"] and row["perturbed"] == pytest.approx(want["perturbed"])
            assert row["drop"] == pytest.approx(want["clean"] - want["perturbed"])
            assert rank(row["rank_after"]) == want["rank_after"]
    assert set(table["retriever"]) == {run["retriever"]["name"]} and set(table["dataset"]) == {"small-cranfield"}
    assert (table["rank_depth"] == 10).all()  # nDCG@10 and RR@10 are read 10 deep
    assert table["variant"].notna().sum() > 100 and (table["drop"] > 0).any()


def test_the_ranks_agree_with_the_scores(checked):
    """RR@10 is 1 / the best relevant rank (0 beyond 10); nDCG@10 is 0 exactly when no relevant
    document is in the top 10. Ranks and scores are computed apart, from the same runs."""
    table = pd.read_parquet(checked[2])
    rr = table[table.family == "reordering"]
    assert rr["clean"].tolist() == pytest.approx([0.0 if missing(r) else 1 / r for r in rr["rank_before"]])
    scored = rr[rr["variant"].notna()]
    assert scored["perturbed"].tolist() == pytest.approx([0.0 if missing(r) else 1 / r for r in scored["rank_after"]])
    for family in ("misspelling", "truncation"):
        rows = table[table.family == family]
        assert (rows["rank_before"].isna() == (rows["clean"] == 0)).all()
        scored = rows[rows["variant"].notna()]
        assert (scored["rank_after"].isna() == (scored["perturbed"] == 0)).all()
    truncated = table[table.family == "truncation"]
    assert (truncated["rank_after"] != truncated["rank_before"]).any()  # the changed corpus' own ranks


def test_duckdb_gives_the_run_files_drop_rates(checked):
    duckdb = pytest.importorskip("duckdb")
    _, run, path = checked
    rates = duckdb.sql(f"""
        SELECT family, avg(rate) AS mean FROM (
            SELECT family, seed, sum("drop") / sum(clean) AS rate FROM read_parquet('{path}')
            WHERE perturbed IS NOT NULL GROUP BY family, seed)
        GROUP BY family ORDER BY family""").fetchall()
    assert [f for f, _ in rates] == sorted(FAMILIES)
    for family, mean in rates:
        assert mean == pytest.approx(run["families"][family]["drop_rate_mean"], abs=1e-9)
    [(rows,)] = duckdb.sql(f"SELECT count(*) FROM read_parquet('{path}') WHERE rank_before IS NULL").fetchall()
    assert rows == sum(r is None for rec in run["families"].values() for r in rec["ranks"]["clean"].values()) * len(SEEDS)


def test_the_report_gives_the_same_frame(checked):
    report, _, path = checked
    pd.testing.assert_frame_equal(report.to_frame("queries"), pd.read_parquet(path))
    assert "verdict" in report.to_frame().columns  # the default stays one row per gate
    with pytest.raises(RobustestError, match=r"Report\.to_frame\('query'\): the levels are 'gates' .* and 'queries'"):
        report.to_frame("query")


def test_robustest_report_converts_a_saved_run_to_csv(checked, tmp_path, capsys):
    from robustest.cli import main

    _, run, path = checked
    saved = tmp_path / "run.json"
    saved.write_text(json.dumps(run))
    assert main(["report", str(saved), "--per-query", str(tmp_path / "q.csv")]) == 0
    assert "per-query table written to" in capsys.readouterr().out
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "q.csv", dtype={"query_id": str}).astype(COLUMNS), pd.read_parquet(path), check_exact=False)


def test_an_older_run_file_without_ranks_converts_with_null_ranks(checked, tmp_path):
    _, run, path = checked
    older = json.loads(json.dumps(run))
    for record in older["families"].values():
        del record["ranks"]
    table = pd.read_parquet(write_per_query(older, tmp_path / "old.parquet"))
    assert table[["rank_before", "rank_after", "rank_depth"]].isna().all().all()
    new = pd.read_parquet(path)
    pd.testing.assert_frame_equal(table.drop(columns=["rank_before", "rank_after", "rank_depth"]), new.drop(columns=["rank_before", "rank_after", "rank_depth"]))


def test_a_query_without_a_variant_keeps_its_row_with_nothing_after(checked):
    """Every cranfield query here got a variant; a family skips a query it cannot perturb (a
    one-word query has no reordering), which the run file records by leaving it out."""
    _, run, _ = checked
    skipped = json.loads(json.dumps(run))
    record = skipped["families"]["reordering"]
    qid = next(iter(record["clean"]))
    for key in ("variants", "perturbed"):
        del record[key]["5"][qid]
    del record["ranks"]["perturbed"]["5"][qid]
    table = per_query_frame(skipped)
    assert len(table) == len(FAMILIES) * len(SEEDS) * 20
    (row,) = table[(table.family == "reordering") & (table.seed == 5) & (table.query_id == qid)].to_dict("records")
    assert all(missing(row[c]) for c in ("variant", "edit", "perturbed", "drop", "rank_after"))
    assert row["clean"] == pytest.approx(record["clean"][qid]) and row["query"] == run["queries"][qid] and row["rank_depth"] == 10


def test_a_failed_write_keeps_the_previous_table(checked, tmp_path, monkeypatch):
    _, run, _ = checked
    target = tmp_path / "q.parquet"
    target.write_bytes(b"the previous table")

    def disk_full(self, f, **kwargs):
        f.write(b"PAR1 half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", disk_full)
    with pytest.raises(RobustestError, match=r"cannot write .*q\.parquet \(No space left on device\)"):
        write_per_query(run, target)
    assert target.read_bytes() == b"the previous table" and [p.name for p in tmp_path.iterdir()] == ["q.parquet"]


@pytest.mark.parametrize("name, message", [
    ("queries.xlsx", r"robustest\.check\(per_query='.*queries\.xlsx'\): '.*queries\.xlsx' is not a \.parquet or \.csv file; name one, e\.g\. per-query\.parquet"),
    ("taken.parquet", r"--robustest-per-query=.*taken\.parquet is a folder; name a file in it"),
])
def test_a_bad_path_fails_before_any_work(tmp_path, name, message):
    (tmp_path / "taken.parquet").mkdir()
    with pytest.raises(RobustestError, match=message):  # a retriever that does not exist: never reached
        robustest.check(str(tmp_path / "no-model"), dataset=str(tmp_path / "no-data"), per_query=str(tmp_path / name), verbose=False)
    with pytest.raises(RobustestError, match=r"per-query table: 'x\.json' is not a \.parquet or \.csv file"):
        write_per_query({}, "x.json")


def test_parquet_without_pyarrow_fails_before_any_work_naming_the_extra(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else find_spec(name, *a))
    with pytest.raises(RobustestError, match=r"--robustest-per-query=.*q\.parquet needs pyarrow: pip install 'robustest\[parquet\]' \(or pyarrow\), or name a \.csv file"):
        robustest.check(str(tmp_path / "no-model"), dataset=str(tmp_path / "no-data"), per_query=str(tmp_path / "q.parquet"), verbose=False)


def test_the_plugin_writes_it(small_cranfield, cache_dir, tmp_path):
    suite = Path(robustest.__file__).parent / "suites" / "test_query_families.py"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(suite), "-p", "no:cacheprovider", "-m", "reordering", "-k", "drop_rate", f"--robustest-dataset={small_cranfield}",
         "--robustest-seeds=1999,5", f"--robustest-cache-dir={cache_dir}", f"--robustest-save={tmp_path / 'run.json'}", "--robustest-per-query=out/q.parquet"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert done.returncode in (0, 1), done.stdout[-3000:]
    assert "per-query table written to out/q.parquet" in done.stdout
    run = validate_run_file(tmp_path / "run.json")
    assert "per_query" not in run["settings"]  # an output path, like save
    table = pd.read_parquet(tmp_path / "out" / "q.parquet")
    assert len(table) == 2 * 20 and set(table.family) == {"reordering"}
    pd.testing.assert_frame_equal(table, per_query_frame(run))
