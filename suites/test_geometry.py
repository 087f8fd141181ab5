"""`robustest/suites/test_geometry.py`, the shipped suite: this file only re-exports it, so the two cannot drift.
Run the same from anywhere with `pytest --pyargs robustest.suites`; `robustest init` copies the suites to edit."""

from robustest.suites.test_geometry import *  # noqa: F401,F403
