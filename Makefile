# The two commands of the README, plus the check order CI runs.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test check format lint types diagram bench clean

$(BIN)/onboarding: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

## The main job on the embedded defaults: SQLite + in-process sandbox, no API key.
demo: $(BIN)/onboarding
	$(BIN)/onboarding demo

## The whole test suite (SQLite always; PostgreSQL when ONBOARDING_TEST_POSTGRES_URL is set).
test: $(BIN)/onboarding
	$(BIN)/pytest -n 2

format: $(BIN)/onboarding
	$(BIN)/ruff format --check .

lint: $(BIN)/onboarding
	$(BIN)/ruff check .

types: $(BIN)/onboarding
	$(BIN)/mypy

## The check order: format, lint, types, tests.
check: format lint types test

diagram: $(BIN)/onboarding
	$(BIN)/onboarding diagram

$(VENV)/.bench: $(BIN)/onboarding
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

## Every benchmark (benchmarks/run_all.py), DBOS included as a contender.
bench: $(VENV)/.bench
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info onboarding.db*
