"""robustest: robustness tests for dense retrievers, as a pytest plugin.

The core (data, retrievers, cache, index, metrics, retrieval) imports neither pytest nor
Hypothesis; `robustest.plugin` is the thin pytest wiring on top.
"""

__version__ = "0.1.0"

from .assertions import RobustnessError, assert_attack_success, assert_drop_rate, assert_invariant, assert_rank_stable  # noqa: E402
from .data import load_dataset  # noqa: E402
from .errors import RobustestError  # noqa: E402
from .retrieval import CorpusIndex, Evaluation  # noqa: E402
from .retrievers.resolve import LoadOptions, resolve_retriever  # noqa: E402

__all__ = ["RobustnessError", "assert_attack_success", "assert_drop_rate", "assert_invariant", "assert_rank_stable", "CorpusIndex", "Evaluation", "LoadOptions", "RobustestError", "load_dataset", "resolve_retriever", "__version__"]
