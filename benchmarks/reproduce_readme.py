"""Do the README's measured drop-rate tables still come out of the shipped suites?

Runs `pytest suites/ -m "not poisoning and not geometry" -k "not worst_case and not paraphrasing"`
(the table's gates only, searches deselected) on the embedded default collection and on cranfield with all-MiniLM-L6-v2, reads
each saved run, and compares clean nDCG@10 and every gate's mean, std, CI and verdict with the
numbers the README recorded (rounded as printed there). Writes the comparison to
benchmarks/results/NNNN_reproduce_readme.json and exits non-zero on any difference.

    python benchmarks/reproduce_readme.py [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from common import REPO, cpu_model, cranfield_path, next_results_path

# The README's "Measured (all-MiniLM-L6-v2, 2-core CPU)" table: family -> (mean %, std %, CI low %, CI high %, verdict).
EXPECTED = {
    "default": {
        "misspelling": (18.98, 2.13, 14.66, 23.17, "inconclusive"),
        "naturalizing": (-6.90, 0.00, -13.63, -0.88, "pass"),
        "case": (0.00, 0.00, 0.00, 0.00, "pass"),
        "punctuation": (-2.23, 0.00, -14.72, 8.99, "inconclusive"),
        "whitespace": (0.00, 0.00, 0.00, 0.00, "pass"),
        "reordering": (-3.52, 2.73, -7.44, -0.18, "pass"),
        "synonymizing": (19.47, 2.82, 14.90, 23.95, "inconclusive"),
        "clean nDCG@10": 0.4401,
    },
    "cranfield": {
        "misspelling": (9.14, 1.01, 6.32, 11.80, "pass"),
        "naturalizing": (4.11, 0.00, 1.26, 7.14, "pass"),
        "case": (-0.00, 0.00, 0.00, 0.00, "pass"),
        "punctuation": (-1.40, 0.00, -2.76, -0.17, "pass"),
        "whitespace": (-0.00, 0.00, 0.00, 0.00, "pass"),
        "reordering": (1.76, 1.05, 0.25, 3.27, "pass"),
        "synonymizing": (7.68, 1.44, 5.25, 10.14, "pass"),
        "clean nDCG@10": 0.3819,
    },
}


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
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(args.cache_dir or tmp)
        results = {}
        for name, dataset in (("default", "default"), ("cranfield", str(cranfield_path()))):
            results[name] = compare(measure(dataset, cache, Path(tmp) / f"{name}.json"), EXPECTED[name])
    path = next_results_path("reproduce_readme")
    path.write_text(json.dumps({"machine": cpu_model(), "model": "all-MiniLM-L6-v2", "results": results}, indent=2) + "\n")
    different = [(name, row) for name, rows in results.items() for row in rows if not row["same"]]
    for name, rows in results.items():
        for row in rows:
            print(f"{name:10} {row['what']:14} expected {row['expected']}  measured {row['measured']}  {'same' if row['same'] else 'DIFFERENT'}")
    print(f"wrote {path}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main())
