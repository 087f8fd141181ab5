"""What the poisoning suite calls (through `robustness.poisoning`): one `Poisoning` measurement
per session, gates per attack and N, and the summary lines and results entry.

Settings: the `poisoning` family config (`[tool.robustest.poisoning]`,
`--family-set=poisoning.KEY=VALUE`, `--thresholds=poisoning=0.3`, `--seeds`), overridden by the
`--poison-*` options (families.poisoning_config).
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import RobustestError
from ..stats import GateResult, RateDifference, compare_rates
from .hotflip import HotFlipConfig
from .poisoning import CONTROL, AttackResult, Poisoning
from .store import PassageCache
from .targets import split_for_attack


class PoisoningChecks:
    def __init__(self, session, record_gate: Callable[[GateResult], GateResult]):
        self.session = session
        self._record_gate = record_gate
        from ..families import poisoning_config

        self.config = poisoning_config(session.families["poisoning"], session.settings)
        self.settings: dict[str, Any] = self.config.extra
        self._measurement: Poisoning | None = None
        self._results: dict[str, Any] = {}  # the results-file entry, filled as attacks run
        self._comparisons: dict[tuple[str, int], RateDifference] = {}

    # -- what runs ------------------------------------------------------------------------
    @property
    def passages(self) -> tuple[int, ...]:
        return self.settings["passages"]

    @property
    def gated(self) -> tuple[str, ...]:
        return self.settings["gated"]

    @property
    def attacks(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.settings["attacks"] + self.gated))

    def skip_reason(self, attack: str | None = None) -> str | None:
        """Why this run cannot measure `attack` (or poisoning at all), None when it can."""
        retriever = self.session.retriever
        if hasattr(retriever, "build_searcher"):
            return f"corpus poisoning needs a dense retriever; {retriever.name} is lexical"
        if attack == "hotflip":
            from .hotflip import WhiteBox

            try:
                WhiteBox(retriever)
            except RobustestError as exc:
                return str(exc)
        return None

    @property
    def measurement(self) -> Poisoning:
        if self._measurement is None:
            self.session.clean_evaluation  # the run's reference numbers (summary, results file)
            s = self.settings
            queries = split_for_attack(self.session.dataset, train_split=s["train_split"], train_fraction=s["train_fraction"])
            cache = PassageCache(None if self.session.settings["no_cache"] else self.session.cache_dir)
            self._measurement = Poisoning(
                self.session.corpus_index,
                queries,
                hotflip=HotFlipConfig(tokens=s["tokens"], iterations=s["iterations"], pool=s["pool"]),
                seeds=self.config.seeds,
                gate_k=self.config.k,
                cache=cache,
            )
            setup = {**self._measurement.describe(), "threshold": self.config.threshold, "gate_k": self.config.k, "passages": list(self.passages)}
            self.session.record("poisoning_setup", setup)
            self.session.record("poisoning", self._results)
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
                self._comparisons[(a, n)] = compare_rates(done[(a, n)].hits[self.config.k], done[(CONTROL, n)].hits[self.config.k], confidence=self.config.confidence)
                self._results[self.record_name(a, n)][f"minus_{CONTROL}_asr{self.config.k}"] = self._comparisons[(a, n)].as_dict()
        return result

    def measure_all(self) -> list[AttackResult]:
        return [self.result(a, n) for n in self.passages for a in self.attacks if self.skip_reason(a) is None]

    def gate(self, attack: str, n: int) -> GateResult:
        """ASR@k of `attack` with N = `n` passages at most the threshold; recorded either way."""
        from ..assertions import RobustnessError, assert_attack_success

        result = self.result(attack, n)
        try:
            gate = assert_attack_success(
                result, self.config.threshold, k=self.config.k, confidence=self.config.confidence, inconclusive=self.session.settings["inconclusive"]
            )
        except RobustnessError as failure:
            self._record_gate(failure.gate)
            raise
        return self._record_gate(gate)

    def versus_control(self, attack: str, n: int) -> RateDifference:
        """Paired difference of ASR@k between `attack` and the random-gold control at equal N."""
        self.result(attack, n), self.result(CONTROL, n)
        return self._comparisons[(attack, n)]

    # -- what it reports ------------------------------------------------------------------
    def lines(self) -> list[str]:
        if self._measurement is None:
            return []
        m = self._measurement
        h, q, k = m.hotflip, m.queries, self.config.k
        lines = [
            "",
            f"corpus poisoning: {len(q.test)} test queries attacked; attacker's queries: {q.source}; "
            f"passages of {h.tokens} tokens; HotFlip {h.iterations} iterations x {h.pool} candidates; seeds {', '.join(map(str, m.seeds))}",
            f"  {'ASR % (mean ± std)':28}" + "".join(f"{f'@{j}':>16}" for j in m.ks),
        ]
        done = [(a, n) for n in self.passages for a in self.attacks if (a, n) in m.results]
        for a, n in done:
            r = m.results[(a, n)]
            lines.append(f"  {r.name:28}" + "".join(f"{r.summary(j)[0] * 100:>9.2f} ± {r.summary(j)[1] * 100:<4.1f}" for j in m.ks))
        for (a, n), d in self._comparisons.items():
            lo, hi = d.ci
            lines.append(
                f"  {a} - {CONTROL} (N={n}): ASR@{k} {d.estimate * 100:+.2f} points, {d.confidence:.0%} CI [{lo * 100:.2f}, {hi * 100:.2f}]"
                + ("" if d.significant else " (not significantly above the control)")
            )
        generated = sum(r.seconds for r in m.results.values())
        cached = sum(c for r in m.results.values() for c in r.cached if r.attack == "hotflip")
        lines.append(f"  passages generated in {generated:.1f} s" + (f"; {cached} HotFlip passage sets read from the cache" if cached else ""))
        return lines
