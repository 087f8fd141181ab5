"""Everything that knows pytest; wiring only, the numbers come from the core modules.

    hooks.py      the entry point: options, ini keys, markers, fixtures, hooks
    session.py    what a run loads, once: retriever, dataset, corpus index, clean scores, reference
    checks.py     what the suites call: family gates, regressions, property searches
    poisoning.py  corpus-poisoning gates and measurements
    reference.py  what a run is gated against: a saved run or a second retriever
    record.py     what a run measured, assembled into the run file
    outputs.py    the files a run writes at the end: run file, HTML report, TREC runs
    summary.py    the header and the terminal summary

Importing this package (pytest does, in every run of an environment where robustest is
installed) loads nothing heavy; a run loads the model only when a robustest test is collected.
"""
