# Quick start: `make run` (dashboard on the simulated MSP) and `make test` (every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean

# The venv: pinned tools and dependencies, then the project itself, editable (its packages import from
# this tree with no sys.path edits; its commands are in .venv/bin, see pyproject.toml).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	rm -rf perimeter.egg-info  # left by the editable build; the venv has the installed metadata
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python launcher.py

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) data .pytest_cache
