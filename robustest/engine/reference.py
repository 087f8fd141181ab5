"""What a run is compared against: a saved run (`--robustest-baseline`) or a second retriever measured
in the same session (`--robustest-compare-to`). Either way the two retrievers see the same variant
texts: a saved run's variants are replayed; a live reference replays this run's variants.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from ..errors import RobustestError
from ..fingerprints import short
from ..runs import check_same_dataset, family_record, frozen_perturber, load_run


COMPARED_CONFIG = ("dtype", "pooling", "max_length", "query_prompt", "doc_prompt", "normalize", "similarity")


class SavedReference:
    """A run file from an earlier checkpoint."""

    def __init__(self, path: str):
        self.path = path
        self.run = load_run(path)
        retriever = self.run["retriever"]
        fingerprint = f", fingerprint {short(retriever['fingerprint'])}" if isinstance(retriever.get("fingerprint"), str) else ""
        self.label = f"{path} ({retriever.get('resolved') or retriever.get('name')}{fingerprint}, saved {self.run.get('created', '?')})"

    def check(self, session) -> None:
        check_same_dataset(self.run, session.dataset.describe(), f"the baseline {self.path}")

    def config_changes(self, retriever: Mapping[str, Any]) -> list[str]:
        """How this run's encoder settings differ from the baseline's (e.g. a float32 baseline
        gated on a bfloat16 GPU run: part of any difference is numerical precision)."""
        theirs = self.run["retriever"]
        return [f"{key} {theirs[key]} -> {retriever[key]}" for key in COMPARED_CONFIG if key in theirs and key in retriever and theirs[key] != retriever[key]]

    def frozen(self, family: str, seeds: Sequence[int]) -> tuple[tuple[int, ...], Callable] | None:
        """(seeds, perturb) replaying the baseline's variants; None when it did not run `family`."""
        record = self.run["families"].get(family)
        if record is None:
            return None
        saved = [int(s) for s in record["seeds"]]
        common = tuple(s for s in seeds if s in saved)
        if not common:
            raise RobustestError(
                f"the baseline {self.path} ran {family} with seeds {', '.join(map(str, saved))}, this run asks for "
                f"{', '.join(map(str, seeds))}: no seed in common; drop --robustest-seeds to use the baseline's"
            )
        return common, frozen_perturber(record, family)

    def family(self, family: str, current_run) -> dict[str, Any] | None:
        return self.run["families"].get(family)

    def per_query(self, measure: str) -> dict[str, float] | None:
        return self.run["per_query"].get(measure)

    def describe(self) -> dict[str, Any]:
        return {"kind": "saved run", "path": str(self.path), "retriever": self.run["retriever"], "created": self.run.get("created")}


class LiveReference:
    """A second retriever, loaded in this session and run on this run's own variants."""

    def __init__(self, session):
        self.session = session  # a RobustestSession for the reference retriever, sharing the dataset
        self.label = f"{session.settings.retriever} (measured in this session)"
        self.records: dict[str, dict[str, Any]] = {}

    def check(self, session) -> None:
        self.session.retriever  # load errors surface before any test runs

    def frozen(self, family: str, seeds: Sequence[int]) -> None:
        return None  # this run samples its own variants; the reference replays them

    def config_changes(self, retriever: Mapping[str, Any]) -> list[str]:
        return []  # a different retriever on purpose: its settings are not a change to report

    def family(self, family: str, current_run) -> dict[str, Any]:
        from ..stability import run_family

        clean = self.session.clean_evaluation_for(current_run.measure)
        replay = replaying(current_run.perturbations)
        run = run_family(self.session.corpus_index, family, current_run.seeds, current_run.measure, clean, replay)
        self.records[family] = family_record(run)
        return self.records[family]

    @property
    def run(self) -> dict[str, Any]:
        """What was measured of the reference so far, shaped like a run file (for the report)."""
        s = self.session
        clean = s.clean_evaluation if s.measured else None
        return {
            "retriever": self.describe(),
            "dataset": s.dataset.describe(),
            "effectiveness": clean.aggregate() if clean else {},
            "per_query": {m: clean.by_query(m) for m in s.measures} if clean else {},
            "families": dict(self.records),
        }

    def per_query(self, measure: str) -> dict[str, float]:
        return self.session.clean_evaluation_for(measure).by_query(measure)

    def describe(self) -> dict[str, Any]:
        s = self.session
        return {"kind": "retriever", "spec": s.settings.retriever, "resolved": s.resolution.label, "fingerprint": s.retriever.fingerprint}


def replaying(perturbations) -> Callable[[Mapping[str, str], int], Any]:
    """`perturb(queries, seed)` returning exactly these perturbations, by seed."""
    by_seed = {p.seed: p for p in perturbations}
    return lambda queries, seed: by_seed[seed]
