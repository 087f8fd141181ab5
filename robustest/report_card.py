"""What `robustest.check` returns: a finished run, read the way a notebook user reads it.

    report.passed      every gate passed (a not-judged gate passes only without --robustest-ci)
    report.verdict     the headline: PASSED / NOT SHOWN SAFE / FAILED, and why
    report.gates       one GateRow per gate and comparison, Holm-adjusted as in the summary
    report.to_frame()  the rows as a pandas DataFrame; to_frame("queries"): one row per family,
                       seed and query (robustest.per_query)
    report.save(path)  the run file (usable as --robustest-baseline or check(baseline=...))
    report.html(path)  the HTML report a pytest run writes
    print(report)      the terminal summary a pytest run prints; in Jupyter: a table and a chart
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from .errors import RobustestError


@dataclass(frozen=True)
class Outcome:
    """How one gate ended, as its test would have: passed, failed, not judged or skipped."""

    name: str
    family: str
    status: str
    message: str


@dataclass(frozen=True)
class GateRow:
    """One gate or comparison. Rates and scores are fractions (0.09 = 9%); `value` is the
    statistic's mean over seeds, `ci_low`/`ci_high` its confidence interval."""

    name: str
    family: str
    kind: str  # "drop rate", "attack success rate", "comparison", "clean effectiveness"
    measure: str
    value: float
    ci_low: float
    ci_high: float
    threshold: float  # the gate's threshold, or a comparison's tolerance
    verdict: str  # pass, fail, inconclusive, not judged, skipped
    p_holm: float
    n_queries: int
    note: str


NAN = float("nan")


class Report:
    def __init__(self, finished, outcomes: list[Outcome]):
        self.finished = finished
        self.outcomes = list(outcomes)

    @property
    def passed(self) -> bool:
        return bool(self.finished.passed)

    @property
    def verdict(self) -> str:
        from .headline import headline

        return headline(self.finished)

    @cached_property
    def run(self) -> dict[str, Any]:
        """The run file's content (robustest/resources/run.schema.json)."""
        from .engine.record import run_file

        return run_file(self.finished)

    @cached_property
    def gates(self) -> list[GateRow]:
        rows = [gate_row(g) for g in self.finished.holm_gates()]
        rows += [comparison_row(r) for r in self.finished.holm_regressions()]
        named = {r.name for r in rows}
        for o in self.outcomes:  # gates that measured nothing, and the clean-effectiveness check
            if o.name not in named and (o.status in ("not judged", "skipped") or o.family == ""):
                verdict = {"passed": "pass", "failed": "fail"}.get(o.status, o.status)
                if o.family == "":  # the clean headline score, judged against a random ranking (and the floor)
                    measure = self.finished.measures[0]
                    score = self.finished.effectiveness[measure]
                    rows.append(GateRow(o.name, "", "clean effectiveness", measure, score, NAN, NAN, NAN, verdict, NAN, len(self.finished.queries), o.message))
                else:
                    rows.append(GateRow(o.name, o.family, "drop rate", "", NAN, NAN, NAN, NAN, verdict, NAN, 0, o.message))
        return rows

    def to_frame(self, level: str = "gates"):
        """A pandas DataFrame: "gates", one row per gate; "queries", one row per family, seed and
        query, with texts, scores and ranks (robustest.per_query, what --robustest-per-query writes)."""
        if level == "queries":
            from .per_query import per_query_frame

            return per_query_frame(self.run)
        if level != "gates":
            raise RobustestError(f"Report.to_frame({level!r}): the levels are 'gates' (one row per gate, the default) and 'queries' (one row per family, seed and query)")
        try:
            import pandas as pd
        except ImportError:
            raise RobustestError("Report.to_frame needs pandas: pip install pandas (or read report.gates)") from None
        return pd.DataFrame([asdict(row) for row in self.gates])

    def save(self, path: str | Path) -> Path:
        """Write the run file; gate later runs against it with --robustest-baseline=PATH or
        robustest.check(..., baseline=PATH)."""
        from .runs import save_run

        return save_run(path, self.run)

    def html(self, path: str | Path) -> Path:
        """Write the self-contained HTML report (tables and plots)."""
        from .report import write_html

        reference = None if self.finished.reference is None else self.finished.reference.run
        return write_html(self.run, path, reference)

    def summary(self) -> str:
        from .engine.summary import summary_lines

        lines = summary_lines(self.finished)
        lines += [f"failed: {o.name}: {first_line(o.message)}" for o in self.outcomes if o.status == "failed"]
        skipped: dict[str, list[str]] = {}  # one line per reason: a group skips its families for one reason
        for o in self.outcomes:
            if o.status == "skipped":
                skipped.setdefault(first_line(o.message), []).append(o.name)
        lines += [f"skipped: {', '.join(names)}: {reason}" for reason, names in skipped.items()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        shown = ", ".join(f"{r.name} {short_value(r)} {r.verdict}" for r in self.gates[:4])
        more = f", and {len(self.gates) - 4} more" if len(self.gates) > 4 else ""
        return f"<robustest.Report {self.verdict.split(' - ')[0]}: {self.finished.retriever_label} on {self.finished.dataset.get('name', '?')}; {shown}{more}>"

    def _repr_html_(self) -> str:
        from .report import drop_rate_section, esc, gates_section, regressions_table

        run = self.run
        reference = None if self.finished.reference is None else self.finished.reference.run
        parts = [f"<p><b>{esc(self.verdict)}</b></p>", gates_section(run.get("gates"))]
        comparison = run.get("comparison") or {}
        if comparison.get("regressions"):
            parts.append("<h2>Against the baseline</h2>" + regressions_table(comparison["regressions"]))
        others = [o for o in self.outcomes if o.status in ("failed", "not judged", "skipped") and o.name not in {g.get("name") for g in run.get("gates") or []}]
        if others:
            parts.append("<ul>" + "".join(f"<li>{esc(o.name)}: {esc(o.status)}: {esc(first_line(o.message))}</li>" for o in others) + "</ul>")
        parts.append(drop_rate_section(run, reference))
        return "\n".join(p for p in parts if p)


def gate_row(g) -> GateRow:
    return GateRow(g.name, g.family, g.statistic, g.measure, g.drop_rate_mean, g.drop_rate_ci[0], g.drop_rate_ci[1], g.threshold, g.verdict.value, number(g.p_adjusted), g.n_queries, g.note)


def comparison_row(r) -> GateRow:
    return GateRow(r.name, r.family, "comparison", r.measure, r.difference, r.difference_ci[0], r.difference_ci[1], r.tolerance, r.verdict.value, number(r.p_adjusted), r.n_queries, r.note)


def number(value: Any) -> float:
    return NAN if value is None else float(value)


def short_value(row: GateRow) -> str:
    if math.isnan(row.value):
        return ""
    return f"{row.value * 100:.2f}% [{row.ci_low * 100:.2f}, {row.ci_high * 100:.2f}]"


def first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
