# Two commands get a fresh clone to a result: `make run` and `make test`.
# Both create .venv on first use and reuse it while pyproject.toml and
# requirements.lock are unchanged.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint serve stop clean-venv

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# dvc.yaml's commands call `aerec`, so the venv's bin goes first on PATH.
run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro
	@$(BIN)/aerec report

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# A local Prefect server on 127.0.0.1, the work pool, the deployments and a worker.
serve: setup
	scripts/prefect-local start

stop:
	scripts/prefect-local stop

clean-venv:
	rm -rf $(VENV)
