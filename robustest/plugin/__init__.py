"""Everything that knows pytest; wiring only, the work is done by `robustest.engine`.

    hooks.py      the entry point: options, ini keys, markers, fixtures, hooks
    workers.py    pytest-xdist: the workers measure, the controller reports
    failures.py   how robustest's outcomes read in pytest's failure reports

Importing this package (pytest does, in every run of an environment where robustest is
installed) loads nothing heavy; a run loads the model only when a robustest test is collected.
"""
