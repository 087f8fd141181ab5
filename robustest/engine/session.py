"""What one robustest run loads, once: retriever, dataset, corpus index, clean scores, reference.

Built lazily by the plugin; every property loads on first use and is kept. Formatting lives in
summary.py, what the run measured in record.py, the gates in checks.py.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from ..errors import RobustestError
from ..settings import OUTPUTS, Settings


class RobustestSession:
    def __init__(self, settings: Settings, project_table: dict[str, Any] | None = None):
        from ..families import family_configs
        from ..family_config import merge_tables
        from ..paths import cache_root
        from .checks import Checks
        from .record import Record

        self.settings = settings
        table = merge_tables(project_table or {}, settings.family_set or {})
        self.families = family_configs(table, seeds=settings.seeds, thresholds=settings.thresholds, worst_case_thresholds=settings.worst_case_thresholds)
        check_depths(self.families, settings.top_k)
        self.cache_dir = cache_root(settings.cache_dir)
        self.measures: tuple[str, ...] = settings.measures
        self.record = Record()
        self.checks = Checks(self)
        self._clean_extra: dict = {}

    def __repr__(self) -> str:
        return f"RobustestSession(retriever {self.settings.retriever}, dataset {self.settings.dataset})"

    @cached_property
    def load_options(self):
        from ..retrievers.resolve import LoadOptions

        s = self.settings
        return LoadOptions(
            device=s.device,
            dtype=s.dtype,
            batch_size=s.batch_size,
            threads=s.threads,
            pooling=s.pooling,
            max_length=s.max_length,
            query_prompt=s.query_prompt,
            doc_prompt=s.doc_prompt,
            dataset_name=s.dataset,  # the resolution picks a preset's task instruction from it
            instruction=s.instruction,
            trust_remote_code=s.trust_remote_code,
            allow_download=s.allow_download,
            cache_dir=self.cache_dir,
        )

    @cached_property
    def resolution(self):
        from ..retrievers.resolve import resolve_retriever

        return resolve_retriever(self.settings.retriever, self.load_options)

    @cached_property
    def guard_resolution(self):
        """What --robustest-guard-model resolves to (resolved early: a typo fails at start-up)."""
        from ..perturb.loaders import guard_load_options
        from ..retrievers.resolve import resolve_retriever

        try:
            return resolve_retriever(self.settings.guard_model, guard_load_options(self.settings))
        except RobustestError as exc:
            raise RobustestError(f"--robustest-guard-model={self.settings.guard_model}: {exc}") from None

    @cached_property
    def dataset(self):
        from ..data import load_dataset
        from ..data.types import subsample_queries

        s = self.settings
        loaded = load_dataset(s.dataset, s.split, cache_dir=self.cache_dir, exclude_self_matches=s.exclude_self_matches, fields=s.dataset_fields)
        return subsample_queries(loaded, s.max_queries)

    @cached_property
    def retriever(self):
        import sys

        if self.settings.threads or "torch" in sys.modules:  # a module:factory retriever on torch too
            from ..threads import configure_torch_threads

            configure_torch_threads(self.settings.threads)
        return self.resolution.load(self.load_options)

    @cached_property
    def query_prompt(self):
        """The query prompt the instruction families perturb (perturb.instructions.QueryPrompt):
        the model's template and the dataset's instruction when the prompt has a `{task}` slot,
        else read from the prompt's text. MissingResource, saying what to do, when the retriever
        has no query prompt or cannot encode under another one."""
        from ..perturb.instructions import QueryPrompt
        from ..perturb.loaders import MissingResource
        from ..retrievers.prompts import PROMPTED_CALL, can_change_query_prompt

        retriever = self.retriever
        name = getattr(retriever, "name", type(retriever).__name__)
        if not can_change_query_prompt(retriever):
            raise MissingResource(
                f"{name} cannot encode queries under another prompt: the instruction families need a Hugging Face or "
                f"sentence-transformers model, or a retriever with query_prompt and {PROMPTED_CALL}(texts, prompts)"
            )
        text = retriever.query_prompt
        if not text.strip():
            raise MissingResource(
                f"{name} encodes queries with no prompt, so there is no instruction to vary: give it one with "
                "--robustest-query-prompt (e.g. 'Instruct: {task}\\nQuery: ', the dataset's task instruction fills {task}), "
                "or test an instruction-tuned model"
            )
        template = task = None
        if self.resolution.folder is not None:
            template = self.resolution.prompt_template(self.load_options).query_prompt
            task = self.resolution.instruction(self.load_options)[0] if "{task}" in template else None
        return QueryPrompt.parse(text, template, task)

    @cached_property
    def corpus_index(self):
        from ..cache import EmbeddingCache
        from ..retrieval import CorpusIndex

        s = self.settings
        cache = EmbeddingCache(None if s.no_cache else self.cache_dir)
        return CorpusIndex(self.retriever, self.dataset, cache=cache, k=s.top_k, use_gpu=s.faiss_gpu, index=s.index, shards=s.index_shards)

    @cached_property
    def clean_evaluation(self):
        evaluation = self.corpus_index.evaluate(measures=self.measures)
        self.record_index(evaluation)
        return evaluation

    def record_index(self, evaluation) -> None:
        """Say in the run file how documents were searched; an approximate index also measures
        its recall against exact search on the clean queries, for the run file and the summary
        (its scores are not the exact ones the paper reports)."""
        from ..index import DenseSearcher
        from ..retrieval import depth_needed

        index = self.corpus_index
        if not isinstance(index.searcher, DenseSearcher):
            return  # a lexical retriever: no vector index
        about = index.searcher.describe()
        if about["exact"]:
            self.record.add("index", about)
            return
        depth = depth_needed(self.measures, index.k)  # how deep the clean scores look
        headline = min(depth_needed(self.measures[:1], index.k), depth)
        recall = index.recall_against_exact(list(zip(evaluation.qids, evaluation.texts)), (headline, depth))
        about["recall"] = {"k": depth, "value": recall[depth], "at": {str(k): v for k, v in recall.items()}, "queries": len(evaluation.qids)}
        at_headline = f" (@{headline}: {recall[headline]:.4f})" if headline != depth else ""
        self.record.add("index", about, (
            f"APPROXIMATE search, {index.searcher.label()}: recall@{depth} against exact search {recall[depth]:.4f}{at_headline} "
            f"over the {len(evaluation.qids)} clean queries (k = {depth}: the depth the scores use); the scores are approximate, "
            "--robustest-index=flat gives the exact ones"
        ))

    @property
    def measured(self) -> bool:
        return "clean_evaluation" in self.__dict__

    def clean_evaluation_for(self, measure: str):
        """The clean run scored with `measure` (the session's measures are scored once)."""
        if measure in self.measures:
            return self.clean_evaluation
        if measure not in self._clean_extra:
            self._clean_extra[measure] = self.corpus_index.evaluate(measures=[measure])
        return self._clean_extra[measure]

    @cached_property
    def reference(self):
        """What this run is gated against (--robustest-baseline or --robustest-compare-to), or None."""
        from .reference import LiveReference, SavedReference

        s = self.settings
        if s.baseline:
            return SavedReference(s.baseline)
        if s.compare_to:
            other = RobustestSession(s.replace(retriever=s.compare_to, compare_to=None, **dict.fromkeys(OUTPUTS)))
            other.__dict__["dataset"] = self.dataset  # the same queries, loaded once
            return LiveReference(other)
        return None

    @cached_property
    def synonym_cache(self):
        """WordNet's answers kept between runs (perturb/synonym_cache.py): read on the first
        synonym lookup, so a warm run never parses WordNet."""
        from ..perturb import synonyms
        from ..perturb.synonym_cache import SynonymCache

        cache = SynonymCache(None if self.settings.no_cache else self.cache_dir)
        synonyms.attach(cache)
        return cache

    def keep_learned(self) -> None:
        """At the end of the run: store what later runs reuse (WordNet's answers). A cache is an
        optimisation: failing to write it loses nothing and fails nothing."""
        if "synonym_cache" in self.__dict__:
            try:
                self.synonym_cache.save()
            except (OSError, RobustestError):
                pass

    def prepare(self) -> None:
        """Load what every robustest test needs, so user mistakes surface before any test runs."""
        self.resolution  # cheap checks first: a typo in --retriever should not wait for the data
        self.synonym_cache
        if self.settings.synonym_guard is not None or self.settings.paraphrase_guard is not None:
            self.guard_resolution
        check_hardware(self.settings)
        if not self.settings.no_cache:
            from ..cache import EmbeddingCache

            EmbeddingCache(self.cache_dir)  # fails early, with a fix, on an unwritable folder
        reference = self.reference  # an unreadable baseline file fails before the model loads
        check_index_fits(self.settings, self.dataset)  # before the corpus is encoded
        if reference is not None:
            reference.check(self)
        self.retriever
        settle_heap()

    def power_lines(self, families=None) -> list[str]:
        """Against a saved baseline: how small a regression each comparison can resolve with this
        many queries (robustest.power), from the baseline's stored scores, before any encode."""
        from ..power import plans, power_lines
        from .reference import SavedReference

        reference = self.reference
        if not isinstance(reference, SavedReference):
            return []
        names = [f for f in self.families if families is None or f in families]
        return power_lines(plans(reference.run, self.measures[0], names, self.settings.regression_tolerance))

    def describe_retriever(self) -> dict[str, Any]:
        retriever = self.retriever
        describe = retriever.describe() if hasattr(retriever, "describe") else {"name": retriever.name}
        return {
            "spec": self.settings.retriever,
            "resolved": self.resolution.label,
            "kind": self.resolution.kind,
            **describe,
            "fingerprint": retriever.fingerprint,
        }


def settle_heap() -> None:
    """Move every object alive now (the model's modules, the dataset, WordNet's maps) out of the
    cyclic collector's sight. Each full collection (Hypothesis' and pytest's, and the automatic
    ones) walked these long-lived heaps again, about a second per run; frozen objects are still
    freed as usual when nothing refers to them."""
    import gc

    gc.freeze()


def check_depths(families, top_k: int) -> None:
    """Each family's measure and property k must fit in the documents retrieved per query."""
    from ..settings import cutoff

    for name, cfg in families.items():
        need = max(cutoff(cfg.measure), cfg.k if cfg.family != "poisoning" else 0)
        if need > top_k:
            raise RobustestError(
                f"{name} needs the top {need} documents ({cfg.measure}, k = {cfg.k}) but --robustest-top-k={top_k} "
                f"retrieves fewer; raise --robustest-top-k to {need} or lower the family's measure cutoff or k"
            )


def check_hardware(settings: Settings) -> None:
    """The device and a FAISS GPU (when asked for) exist, checked before anything is encoded."""
    from ..retrievers.hf import resolve_device

    resolve_device(settings.device)
    if settings.faiss_gpu:
        from ..index import check_faiss_gpu

        check_faiss_gpu()


def check_index_fits(settings: Settings, dataset) -> None:
    """No more shards or IVF lists than documents, known once the dataset is loaded."""
    from ..index import IndexSpec, check_fits

    check_fits(IndexSpec.parse(settings.index), settings.index_shards, len(dataset.doc_ids), dataset.name)
