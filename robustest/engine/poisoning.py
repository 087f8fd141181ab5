"""What the poisoning suite calls (through `robustness.poisoning`): one `Poisoning` measurement
per session, gates per attack and N, and the run-file entry.

Settings: the `poisoning` family config (`[tool.robustest.poisoning]`,
`--robustest-family-set=poisoning.KEY=VALUE`, `--robustest-thresholds=poisoning=0.3`,
`--robustest-seeds`), overridden by the `--robustest-poison-*` options (poisoning_config.py).
"""

from __future__ import annotations

from typing import Any

from ..attacks.hotflip import HotFlipConfig
from ..attacks.poisoning import CONTROL, AttackResult, Poisoning
from ..attacks.store import PassageCache
from ..attacks.targets import split_for_attack
from ..errors import RobustestError
from ..poisoning_config import poisoning_config
from ..stats import GateResult, RateDifference, compare_rates


class PoisoningChecks:
    def __init__(self, session):
        self.session = session
        self.record = session.record
        self.config = poisoning_config(session.families["poisoning"], session.settings)
        self.own: dict[str, Any] = self.config.extra  # passages, tokens, iterations, pool, attacks, ...
        self._measurement: Poisoning | None = None
        self._results: dict[str, Any] = {}  # the results-file entry, filled as attacks run
        self.comparisons: dict[tuple[str, int], RateDifference] = {}  # attack minus the control
        self.gates: dict[tuple[str, int], GateResult] = {}  # (attack, N) -> its gate, for the summary

    # -- what runs ------------------------------------------------------------------------
    @property
    def passages(self) -> tuple[int, ...]:
        return self.own["passages"]

    @property
    def gated(self) -> tuple[str, ...]:
        return self.own["gated"]

    @property
    def attacks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.own["attacks"] + self.gated))

    def skip_reason(self, attack: str | None = None) -> str | None:
        """Why this run cannot measure `attack` (or poisoning at all), None when it can."""
        retriever = self.session.retriever
        if hasattr(retriever, "build_searcher"):
            return f"corpus poisoning needs a dense retriever; {retriever.name} is lexical"
        if attack == "hotflip":
            from ..attacks.hotflip import WhiteBox

            try:
                WhiteBox(retriever)
            except RobustestError as exc:
                return str(exc)
        return None

    @property
    def started(self) -> bool:
        return self._measurement is not None

    @property
    def measurement(self) -> Poisoning:
        if self._measurement is None:
            self.session.clean_evaluation  # the run's reference numbers (summary, results file)
            s = self.own
            queries = split_for_attack(self.session.dataset, train_split=s["train_split"], train_fraction=s["train_fraction"])
            cache = PassageCache(None if self.session.settings.no_cache else self.session.cache_dir)
            self._measurement = Poisoning(
                self.session.corpus_index,
                queries,
                hotflip=HotFlipConfig(tokens=s["tokens"], iterations=s["iterations"], pool=s["pool"]),
                seeds=self.config.seeds,
                gate_k=self.config.k,
                cache=cache,
            )
            setup = {**self._measurement.describe(), "threshold": self.config.threshold, "gate_k": self.config.k, "passages": list(self.passages)}
            self.record.add("poisoning_setup", setup)
            self.record.add("poisoning", self._results)
        return self._measurement

    def record_name(self, attack: str, n: int) -> str:
        """The attack's key in the run file: its name, with N when several N are measured."""
        return attack if len(self.passages) == 1 else f"{attack} (N={n})"

    def result(self, attack: str, n: int) -> AttackResult:
        result = self.measurement.run(attack, n)
        self._results[self.record_name(attack, n)] = result.as_dict()
        done = self.measurement.results
        for a in self.attacks:
            if a != CONTROL and (a, n) in done and (CONTROL, n) in done:
                self.comparisons[(a, n)] = compare_rates(done[(a, n)].hits[self.config.k], done[(CONTROL, n)].hits[self.config.k], confidence=self.config.confidence)
                self._results[self.record_name(a, n)][f"minus_{CONTROL}_asr{self.config.k}"] = self.comparisons[(a, n)].as_dict()
        return result

    def measure_all(self) -> list[AttackResult]:
        return [self.result(a, n) for n in self.passages for a in self.attacks if self.skip_reason(a) is None]

    def gate(self, attack: str, n: int) -> GateResult:
        """ASR@k of `attack` with N = `n` passages at most the threshold, stated beside the
        random-gold control's (when it is measured); recorded either way."""
        from ..assertions import assert_attack_success
        from ..errors import RobustnessError

        result = self.result(attack, n)
        control = None
        if attack != CONTROL and CONTROL in self.attacks and self.skip_reason(CONTROL) is None:
            control = self.result(CONTROL, n)
        try:
            gate = assert_attack_success(
                result, self.config.threshold, k=self.config.k, confidence=self.config.confidence, inconclusive=self.session.settings.inconclusive,
                control=control,
            )
        except RobustnessError as failure:
            self.gates[(attack, n)] = failure.gate
            self.record.gate(failure.gate)
            raise
        self.gates[(attack, n)] = gate
        return self.record.gate(gate)
