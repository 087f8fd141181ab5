"""Do the documented drop-rate tables still come out of the shipped suites?

Runs `pytest suites/ -m "not poisoning and not geometry" -k "not worst_case and not paraphrasing"`
(the table's gates only, searches deselected) on the embedded default collection and on cranfield with all-MiniLM-L6-v2, reads
each saved run, and compares clean nDCG@10 and every gate's mean, std, CI and verdict with the
numbers the table "Measured drop rates" of docs/explanation/performance.md prints (parsed from
that page, rounded as printed there). Writes the comparison to
benchmarks/results/NNNN_reproduce_docs.json and exits non-zero on any difference.

    python benchmarks/reproduce_docs.py [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, cpu_model, cranfield_path, next_results_path

PAGE = REPO / "docs" / "explanation" / "performance.md"
HEADING = "## Measured drop rates (all-MiniLM-L6-v2, 2-core CPU)"
# The table's dataset column -> the run it is checked against; other rows (cranfield's first 50
# queries, measured apart for paraphrasing) and the paraphrasing rows are not checked.
DATASETS = {"wordnet-senses (default, 300 queries)": "default", "cranfield (225 queries)": "cranfield"}


def expected_from_page(page: Path = PAGE) -> dict:
    """The measured table of docs/explanation/performance.md as {dataset: {family: (mean %, std %,
    CI low %, CI high %, verdict), "clean nDCG@10": score}}."""
    lines = page.read_text(encoding="utf-8").splitlines()
    try:
        start = lines.index(HEADING)
    except ValueError:
        raise SystemExit(f"{page}: no heading {HEADING!r}") from None
    expected: dict = {name: {} for name in DATASETS.values()}
    in_table = False
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if not line.startswith("|"):
            if in_table:
                break
            continue
        in_table = True
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] not in DATASETS:  # the header, the separator, rows not checked
            continue
        name, family = DATASETS[cells[0]], cells[1]
        if family == "clean nDCG@10":
            expected[name][family] = float(cells[2])
        elif not family.startswith("paraphrasing"):
            mean, std = (float(x) for x in cells[2].split("±"))
            lo, hi = (float(x) for x in cells[3].strip("[]").split(","))
            expected[name][family] = (mean, std, lo, hi, cells[5])
    for name, values in expected.items():
        if "clean nDCG@10" not in values or len(values) < 2:
            raise SystemExit(f"{page}: the table under {HEADING!r} has no complete rows for {name}")
    return expected


def measure(dataset: str, cache_dir: Path, out: Path) -> dict:
    command = [
        sys.executable, "-m", "pytest", str(REPO / "suites"), "-p", "no:cacheprovider", "-q",
        "-m", "not poisoning and not geometry and not robustest_property",
        "-k", "not worst_case and not paraphrasing",  # the drop-rate gates of the table (paraphrasing was measured apart)
        f"--robustest-dataset={dataset}", f"--robustest-cache-dir={cache_dir}", f"--robustest-save={out}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"pytest failed on {dataset}:\n{done.stdout[-3000:]}")
    return json.loads(out.read_text())


def compare(run: dict, expected: dict) -> list[dict]:
    gates = {g["family"]: g for g in run["gates"]}
    rows = [{"what": "clean nDCG@10", "expected": expected["clean nDCG@10"], "measured": round(run["effectiveness"]["nDCG@10"], 4)}]
    for family, (mean, std, lo, hi, verdict) in ((f, v) for f, v in expected.items() if f != "clean nDCG@10"):
        g = gates[family]
        measured = (round(g["drop_rate_mean"] * 100, 2), round(g["drop_rate_std"] * 100, 2), round(g["drop_rate_ci"][0] * 100, 2), round(g["drop_rate_ci"][1] * 100, 2), g["verdict"])
        rows.append({"what": family, "expected": [mean, std, lo, hi, verdict], "measured": list(measured)})
    for row in rows:
        e, m = row["expected"], row["measured"]
        row["same"] = (abs(e - m) < 1e-9) if isinstance(e, float) else all(a == b if isinstance(a, str) else abs(a - b) < 1e-9 for a, b in zip(e, m))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", default=None, help="robustest cache to reuse (default: a temporary one)")
    args = parser.parse_args()
    expected = expected_from_page()
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache_dir or tmp)
        results = {}
        for name, dataset in (("default", "default"), ("cranfield", str(cranfield_path()))):
            results[name] = compare(measure(dataset, cache, Path(tmp) / f"{name}.json"), expected[name])
    path = next_results_path("reproduce_docs")
    path.write_text(json.dumps({"machine": cpu_model(), "model": "all-MiniLM-L6-v2", "results": results}, indent=2) + "\n")
    different = [(name, row) for name, rows in results.items() for row in rows if not row["same"]]
    for name, rows in results.items():
        for row in rows:
            print(f"{name:10} {row['what']:14} expected {row['expected']}  measured {row['measured']}  {'same' if row['same'] else 'DIFFERENT'}")
    print(f"wrote {path}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
