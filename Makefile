# Two commands on a fresh machine with Python 3.11 and make: `make up`, `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install up test test-db lint bench bench-ledger bench-scoring bench-offers bench-console format clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

up: $(STAMP)
	$(BIN)/tenure up

test: $(STAMP)
	$(BIN)/pytest

# The database tests alone (CI runs them again against an external server). The end-to-end
# and browser tests run in the first pass: with them the second pass took CI past 30 minutes.
test-db: $(STAMP)
	$(BIN)/pytest -m db

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy shared services tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

bench-ledger: $(STAMP)
	$(BIN)/python bench/ledger.py

bench-scoring: $(STAMP)
	$(BIN)/python bench/scoring.py

bench-offers: $(STAMP)
	$(BIN)/python bench/offers.py

bench-console: $(STAMP)
	$(BIN)/python bench/console.py

clean:
	rm -rf $(VENV) .tenure .pytest_cache .mypy_cache .ruff_cache
