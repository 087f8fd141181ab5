"""The shipped robustness suites: `pytest --pyargs robustest.suites --retriever=ID`.

    test_effectiveness.py     clean effectiveness clearly above a random ranking
    test_query_families.py    every query-perturbation family of robustest.families: a drop-rate
                              gate and a property search (markers: the family's name)
    test_poisoning.py         corpus poisoning: ASR@k gates
    test_geometry.py          embedding geometry, reported (optional gates)

`robustest init DIR` copies them into a project, to edit.
"""
