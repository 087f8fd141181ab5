"""robustest: robustness tests for dense retrievers, as a pytest plugin.

The core (data, retrievers, cache, index, metrics, retrieval) imports neither pytest nor
Hypothesis; `robustest.plugin` is the thin pytest wiring on top.

The public names below are imported on first use: the pytest plugin imports this package in
every pytest run of an environment where robustest is installed, and must cost nothing there.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    "Family": "robustest.families",
    "register_family": "robustest.families",
    "unregister_family": "robustest.families",
    "NoLegalEdit": "robustest.perturb.base",
    "RobustnessError": "robustest.assertions",
    "assert_attack_success": "robustest.assertions",
    "assert_drop_rate": "robustest.assertions",
    "assert_invariant": "robustest.assertions",
    "assert_rank_stable": "robustest.assertions",
    "assert_top_k_unchanged": "robustest.assertions",
    "assert_worst_case": "robustest.assertions",
    "worst_case_search": "robustest.worst_case",
    "CorpusIndex": "robustest.retrieval",
    "Evaluation": "robustest.retrieval",
    "LoadOptions": "robustest.retrievers.resolve",
    "resolve_retriever": "robustest.retrievers.resolve",
    "RobustestError": "robustest.errors",
    "NotJudged": "robustest.errors",
    "load_dataset": "robustest.data",
    "check": "robustest.checking",
    "Report": "robustest.report_card",
}

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'robustest' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
