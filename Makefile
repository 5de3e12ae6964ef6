# Two commands a newcomer needs: `make demo` and `make test`.
# Each creates the virtualenv and installs the project when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test test-full lint bench clean

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

lint: $(STAMP)
	$(BIN)/ruff check patchwave flows tasks deployments tests benchmarks
	$(BIN)/mypy patchwave flows tasks

bench: $(STAMP)
	$(BIN)/python -m benchmarks.window

clean:
	rm -rf $(VENV) .prefect-home reports
