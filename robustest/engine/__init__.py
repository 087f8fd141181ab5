"""The run engine, pytest-free: what a robustness run loads, measures, judges and writes.

The pytest plugin (`robustest.plugin`), the CLI (`robustest.cli`) and `robustest.check`
are three faces on it; none of these modules imports pytest.

    session.py    what a run loads, once: retriever, dataset, corpus index, clean scores, reference
    checks.py     what the suites call: family gates, regressions, property searches
    poisoning.py  corpus-poisoning gates and measurements
    reference.py  what a run is gated against: a saved run or a second retriever
    record.py     what a run measured, assembled into the run file
    finished.py   a finished run as plain data (merged across pytest-xdist workers)
    outputs.py    the files a run writes at the end: run file, HTML report, TREC runs
    summary.py    the header and the terminal summary
"""
