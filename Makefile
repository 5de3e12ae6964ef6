# Two commands a newcomer needs: `make demo` and `make test`.
# Each creates the virtualenv and installs the project when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-full lint bench clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	PREFECT_HOME=$(CURDIR)/.prefect-home $(BIN)/patchwave demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The long campaigns in full: every kill point of the crash campaign, 5,000 fuzzed arguments.
test-full: $(STAMP)
	PATCHWAVE_FULL=1 $(BIN)/python -m pytest -q

# Refresh the committed screenshots in docs/screenshots/ (the e2e test writes them to a tmp
# folder otherwise): a real prefect server and headless Chromium, about a minute.
screenshots: $(STAMP)
	PATCHWAVE_SCREENSHOTS=1 $(BIN)/python -m pytest -q tests/test_e2e_operator.py

lint: $(STAMP)
	$(BIN)/ruff check patchwave flows tasks deployments tests benchmarks
	$(BIN)/mypy patchwave flows tasks benchmarks

# make bench [BENCH_INSTANCES=10000] [BENCH_PRESET=default|heavy-tail|failures|stuck|all]
#            [BENCH_FLEET=both|aws|sim] [BENCH_SEED=2026] [BENCH_ARGS="--poll-worth 1"]
BENCH_INSTANCES ?= 10000
BENCH_PRESET    ?= default
BENCH_FLEET     ?= both
BENCH_SEED      ?= 2026
BENCH_ARGS      ?=

bench: $(STAMP)
	$(BIN)/python -m benchmarks.window --instances $(BENCH_INSTANCES) --preset $(BENCH_PRESET) \
		--fleet $(BENCH_FLEET) --seed $(BENCH_SEED) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .prefect-home reports
