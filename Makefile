# The README's two set-up commands are `make demo` and `make test`: both create the virtual
# environment and install what they need, on a fresh clone with nothing installed by hand.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench fuzz clean

# The ray extra: the Ray rig's tests (tests/rig/test_ray_cluster.py) run a local Ray cluster.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ptpkit demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench fuzz
	$(BIN)/ruff format --check src tests bench fuzz
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: $(STAMP) lint
	$(BIN)/python -m pytest

# Every benchmark, or those named in BENCH (`make bench BENCH="download startup"`); BENCH_ROUNDS=N
# sets the rounds of each (default 3 to 10 by benchmark; the whole run takes minutes).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench $(BENCH)

# Every parser fuzzed for FUZZ_SECONDS (default 300) in total: atheris where it installs, else
# the random engine. Prints inputs, inputs/s and findings per target; fails on a finding.
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,fuzz]'
	$(BIN)/python -m fuzz --seconds $(or $(FUZZ_SECONDS),300)

clean:
	rm -rf $(VENV) build src/*.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis
