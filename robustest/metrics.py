"""Per-query effectiveness through ir-measures, from measure strings users write (nDCG@10)."""

from __future__ import annotations

from typing import Iterable, Mapping

import ir_measures

from .errors import RobustestError

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]


def parse_measures(names: Iterable[str]) -> list:
    measures = []
    for name in names:
        try:
            measures.append(ir_measures.parse_measure(name.strip()))
        except (ValueError, NameError, SyntaxError, TypeError, AttributeError) as exc:
            raise RobustestError(f"measure {name!r} is not an ir-measures measure ({exc}); write e.g. nDCG@10, R@100, RR@10") from None
    return measures


def per_query(qrels: Qrels, run: Run, measures: Iterable[str]) -> dict[str, dict[str, float]]:
    """{measure: {qid: value}} for every query in `qrels`; a query the run missed scores 0."""
    names = list(measures)
    parsed = parse_measures(names)
    by_measure = {str(m): n for m, n in zip(parsed, names)}
    out = {n: dict.fromkeys(qrels, 0.0) for n in names}
    for metric in ir_measures.iter_calc(parsed, qrels, run):
        if metric.query_id in qrels:
            out[by_measure[str(metric.measure)]][metric.query_id] = float(metric.value)
    return out

