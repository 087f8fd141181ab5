"""One robustest session: the settings of a pytest run and what it loads, once.

The plugin builds it in `pytest_configure` and hands it to fixtures; everything expensive
(dataset, model, corpus index, clean evaluation) is loaded on first use and kept. It also
collects what the run measured, for the terminal summary and the results file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from . import __version__
from .cache import EmbeddingCache
from .data.types import Dataset, subsample_queries
from .errors import RobustestError
from .fingerprints import short
from .paths import cache_root
from .retrieval import CorpusIndex, Evaluation
from .retrievers.resolve import LoadOptions, Resolution, resolve_retriever



def dataset_name_hint(spec: str) -> str:
    """The dataset's name before loading it, to pick a preset's task instruction."""
    if spec in ("", "default"):
        from .data.default_collection import DEFAULT_DATASET_NAME

        return DEFAULT_DATASET_NAME
    if spec.startswith("irds:"):
        return spec[len("irds:") :]
    return Path(spec).name or spec


class RobustestSession:
    def __init__(self, settings: dict[str, Any], robustest_table: dict[str, Any] | None = None):
        self.settings = settings
        from .checks import Checks
        from .families import family_configs, merge_tables

        table = merge_tables(robustest_table or {}, settings["family_set"] or {})
        self.families = family_configs(table, seeds=settings["seeds"], thresholds=settings["thresholds"])
        self.checks = Checks(self)
        self._clean_extra: dict[str, Evaluation] = {}
        self.cache_dir = cache_root(settings["cache_dir"])
        self.load_options = LoadOptions(
            device=settings["device"],
            dtype=settings["dtype"],
            batch_size=settings["batch_size"],
            pooling=settings["pooling"],
            max_length=settings["max_length"],
            dataset_name=dataset_name_hint(settings["dataset"]),
            allow_download=settings["allow_download"],
            cache_dir=self.cache_dir,
        )
        self.measures: tuple[str, ...] = settings["measures"]
        floor = settings["effectiveness_floor"]
        if floor and floor[0] and floor[0] not in self.measures:
            raise RobustestError(
                f"--effectiveness-floor names {floor[0]}, which is not measured; add it to --measures={','.join(self.measures + (floor[0],))}"
            )
        if settings["baseline"] and settings["compare_to"]:
            raise RobustestError("--baseline and --compare-to both name a reference; gate against one of them")
        self._reference = None
        self._resolution: Resolution | None = None
        self._retriever = None
        self._dataset: Dataset | None = None
        self._index: CorpusIndex | None = None
        self._clean: Evaluation | None = None
        self.effectiveness: dict[str, float] = {}
        self.extra_results: dict[str, Any] = {}
        self.extra_lines: list[str] = []

    # -- what the run loads, once -------------------------------------------------------
    @property
    def resolution(self) -> Resolution:
        if self._resolution is None:
            self._resolution = resolve_retriever(self.settings["retriever"], self.load_options)
        return self._resolution

    @property
    def dataset(self) -> Dataset:
        if self._dataset is None:
            from .data import load_dataset

            loaded = load_dataset(
                self.settings["dataset"],
                self.settings["split"],
                cache_dir=self.cache_dir,
                exclude_self_matches=self.settings["exclude_self_matches"],
            )
            self._dataset = subsample_queries(loaded, self.settings["max_queries"])
        return self._dataset

    @property
    def retriever(self):
        if self._retriever is None:
            self._retriever = self.resolution.load(self.load_options)
        return self._retriever

    @property
    def corpus_index(self) -> CorpusIndex:
        if self._index is None:
            cache = EmbeddingCache(None if self.settings["no_cache"] else self.cache_dir)
            self._index = CorpusIndex(
                self.retriever,
                self.dataset,
                cache=cache,
                k=self.settings["top_k"],
                use_gpu=self.settings["faiss_gpu"],
            )
        return self._index

    @property
    def clean_evaluation(self) -> Evaluation:
        if self._clean is None:
            self._clean = self.corpus_index.evaluate(measures=self.measures)
            self.effectiveness = self._clean.aggregate()
        return self._clean

    def clean_evaluation_for(self, measure: str) -> Evaluation:
        """The clean run scored with `measure` (the session's measures are scored once)."""
        if measure in self.measures:
            return self.clean_evaluation
        if measure not in self._clean_extra:
            self._clean_extra[measure] = self.corpus_index.evaluate(measures=[measure])
        return self._clean_extra[measure]

    @property
    def reference(self):
        """What this run is gated against (--baseline or --compare-to), or None."""
        if self._reference is None and (self.settings["baseline"] or self.settings["compare_to"]):
            from .reference import LiveReference, SavedReference

            if self.settings["baseline"]:
                self._reference = SavedReference(self.settings["baseline"])
            else:
                other = dict(self.settings, retriever=self.settings["compare_to"], compare_to=None, robustest_save=None)
                session = RobustestSession(other)
                session._dataset = self.dataset  # the same queries, loaded once
                self._reference = LiveReference(session)
        return self._reference

    def prepare(self) -> None:
        """Load what every robustest test needs, so user mistakes surface before any test runs."""
        self.resolution  # cheap checks first: a typo in --retriever should not wait for the data
        if not self.settings["no_cache"]:
            EmbeddingCache(self.cache_dir)  # fails early, with a fix, on an unwritable folder
        reference = self.reference  # an unreadable baseline file fails before the model loads
        self.dataset
        if reference is not None:
            reference.check(self)
        self.retriever

    # -- what the run reports -----------------------------------------------------------
    def header_lines(self) -> list[str]:
        s = self.settings
        try:
            retriever = self.resolution.describe(self.load_options)
        except RobustestError:
            retriever = f"{s['retriever']} (cannot be resolved; see the error below)"
        device = s["device"]
        try:
            from .retrievers.hf import resolve_device

            device = f"{device} -> {resolve_device(device)}" if device == "auto" else device
        except RobustestError:
            pass
        return [
            f"robustest {__version__}: retriever {retriever}",
            f"robustest: dataset {s['dataset']}, split {s['split']}, device {device}, cache {'off' if s['no_cache'] else self.cache_dir}",
        ]

    def summary_lines(self) -> list[str]:
        if self._clean is None:
            return []
        ds = self.dataset
        index = self._index
        cache = "off" if index.cache_path is None else ("hit" if index.cache_hit else "miss, now stored")
        if index.cache_hit is None:
            cache = "not used (lexical retriever)"
        lines = [
            f"retriever: {self.resolution.label} (fingerprint {short(self.retriever.fingerprint)})",
            f"dataset: {ds.name} [{ds.split}] {len(ds.doc_ids)} documents, {len(ds.queries)} queries"
            + (f", {ds.dropped_queries} queries without {ds.split} judgements left out" if ds.dropped_queries else "")
            + "".join(f"; {n}" for n in ds.notes),
            f"corpus embeddings cache: {cache}" + (f" ({index.cache_path})" if index.cache_path else ""),
        ]
        lines += [f"{m:>12} = {v:.4f}" for m, v in self.effectiveness.items()]
        return lines + self.extra_lines + self.checks.poisoning_lines() + self.gate_lines() + self.regression_lines()

    def holm_gates(self):
        from .stats import apply_holm

        return apply_holm(self.checks.gates) if self.checks.gates else []

    def gate_lines(self) -> list[str]:
        gates = self.holm_gates()
        lines = [] if not gates else ["", f"{'gate':34} {'% (mean ± std over seeds)':>25} {'95% CI':>18} {'threshold':>9} {'p Holm':>8}  verdict"]
        for g in gates:
            lo, hi = g.drop_rate_ci
            lines.append(
                f"{g.name:34} {g.drop_rate_mean * 100:>14.2f} ± {g.drop_rate_std * 100:<8.2f} "
                f"[{lo * 100:6.2f}, {hi * 100:6.2f}] {g.threshold * 100:>8.1f}% {g.p_adjusted:>8.3g}  {g.verdict.value}"
            )
        lines += [f"  {g.name}: {g.note}" for g in gates if g.verdict.value == "inconclusive"]
        guard = self.checks.guard
        if guard is not None and guard.accepted + guard.rejected:
            lines.append(
                f"synonym guard (embedded MiniLM cosine >= {guard.threshold}): rejected {guard.rejection_rate:.1%} "
                f"of {guard.accepted + guard.rejected} drawn variants"
            )
        for family, example in self.checks.counterexamples.items():
            lines.append(f"smallest counterexample found ({family}): {example}")
        return lines

    def holm_regressions(self):
        from .stats import apply_holm

        return apply_holm(self.checks.regressions) if self.checks.regressions else []

    def regression_lines(self) -> list[str]:
        regressions = self.holm_regressions()
        if self.reference is None or not regressions:
            return []
        lines = [
            "",
            f"regression vs {self.reference.label} (checkpoint minus baseline; positive = worse)",
            f"{'comparison':34} {'baseline':>9} {'this run':>9} {'difference':>11} {'95% CI':>18} {'tolerance':>9} {'p Holm':>8}  verdict",
        ]
        retriever = self.retriever.describe() if hasattr(self.retriever, "describe") else {}
        changes = self.reference.config_changes(retriever) if hasattr(self.reference, "config_changes") else []
        if changes:
            lines.insert(2, "encoder settings differ from the baseline's: " + "; ".join(changes))
        for r in regressions:
            lo, hi = r.difference_ci
            lines.append(
                f"{r.name:34} {r.baseline * 100:>9.2f} {r.current * 100:>9.2f} {r.difference * 100:>+11.2f} "
                f"[{lo * 100:6.2f}, {hi * 100:6.2f}] {r.tolerance * 100:>9.2f} {r.p_adjusted:>8.3g}  {r.verdict.value}"
            )
        return lines

    def results(self) -> dict[str, Any]:
        from .runs import RUN_SCHEMA, family_record

        retriever = self.retriever
        describe = retriever.describe() if hasattr(retriever, "describe") else {"name": retriever.name}
        reference = self.reference
        return {
            "schema": RUN_SCHEMA,
            "robustest_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "retriever": {
                "spec": self.settings["retriever"],
                "resolved": self.resolution.label,
                "kind": self.resolution.kind,
                **describe,
                "fingerprint": retriever.fingerprint,
            },
            "dataset": self.dataset.describe(),
            "settings": {k: v for k, v in self.settings.items() if k != "robustest_save"},
            "effectiveness": self.effectiveness,
            "per_query": {m: self._clean.by_query(m) for m in self.measures} if self._clean else {},
            "queries": dict(self.dataset.queries),  # original texts, for the report's worst-query tables
            "families": {family: family_record(run) for family, run in self.checks.runs.items()},
            "gates": [g.as_dict() for g in self.holm_gates()],
            "comparison": None if reference is None else {
                "reference": reference.describe(),
                "tolerance": self.settings["regression_tolerance"],
                "regressions": [r.as_dict() for r in self.holm_regressions()],
            },
            "counterexamples": dict(self.checks.counterexamples),
            "synonym_guard": None if self.checks.guard is None else {
                "threshold": self.checks.guard.threshold,
                "accepted": self.checks.guard.accepted,
                "rejected": self.checks.guard.rejected,
            },
            **self.extra_results,
        }

    @property
    def measured(self) -> bool:
        return self._clean is not None

    def save(self, path: str | Path) -> Path:
        from .runs import save_run

        return save_run(path, self.results())

    def record(self, key: str, value: Any, line: str | None = None) -> None:
        """Keep a measured value for the results file and, optionally, a summary line."""
        self.extra_results[key] = value
        if line:
            self.extra_lines.append(line)
