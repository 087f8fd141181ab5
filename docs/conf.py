"""Sphinx configuration of robustest's documentation (MyST Markdown pages).

Build: `make docs`, i.e. sphinx-build -W --keep-going -b html docs docs/_build/html.
The reference pages are generated from the code by the local extension in _ext/.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))  # the checkout's robustest, also when it is not installed

import robustest  # noqa: E402

project = "robustest"
author = "the robustest authors"
copyright = "robustest authors"
release = version = robustest.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "robustest_reference",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

# Markdown links such as [x](page.md#a-heading) resolve to headings down to level 3, and
# a link to a missing page or anchor is a warning (an error under -W).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# The docstrings write `name` for code, as Markdown does: render it as code in RST too. They
# list parameters as `name: what it is` lines (no Google or NumPy sections, so no napoleon):
# the local extension turns those into parameter fields.
default_role = "literal"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"

html_theme = "alabaster"
html_title = f"robustest {release}"
html_static_path = []
html_theme_options = {"description": "Robustness tests for dense retrievers, as a pytest plugin", "fixed_sidebar": True}
