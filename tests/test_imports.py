"""The core stays free of pytest and Hypothesis: it must work in a notebook or a script."""

import subprocess
import sys

CORE = [
    "robustest",
    "robustest.analyze",
    "robustest.attacks",
    "robustest.cache",
    "robustest.cli",
    "robustest.correlations",
    "robustest.data",
    "robustest.data.default_collection",
    "robustest.geometry",
    "robustest.index",
    "robustest.metrics",
    "robustest.mixed",
    "robustest.plots",
    "robustest.report",
    "robustest.retrieval",
    "robustest.retrievers.resolve",
    "robustest.retrievers.bm25",
    "robustest.families",
    "robustest.family_config",
    "robustest.poisoning_config",
    "robustest.perturb.loaders",
    "robustest.data.glove",
    "robustest.retrievers",
    "robustest.random_ranking",
    "robustest.scaffold",
    "robustest.settings",
]


def test_core_imports_neither_pytest_nor_hypothesis():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pytest', '_pytest', 'hypothesis'))\n"
        + "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
