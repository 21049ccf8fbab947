# sacgen: make test (every suite), make demo, make golden, make docs, make schemas,
# make lint, make bench, make cluster-up / cluster-down / cluster-status (the local
# test cluster).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-unit test-bats test-integration lint golden docs schemas demo bench venv \
        cluster-up cluster-down cluster-status clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

# Every suite: lint, unit, bats, then the real-cluster tests (the cluster is
# started if needed and left running; `make cluster-down` stops it).
test: lint test-unit test-bats test-integration

test-unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

test-bats: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/bats tests/bats

test-integration: $(STAMP) cluster-up
	$(BIN)/python -m pytest -q tests/integration

# shellcheck and bash -n over every artifact of every example, and the project's own
# scripts; ruff over the Python, mypy over the package.
lint: $(STAMP)
	$(BIN)/ruff check sacgen tools tests bench
	$(BIN)/mypy
	$(BIN)/sacgen lint examples
	$(BIN)/shellcheck -x cluster/*.sh .ci/run $(wildcard demo/*.sh bench/*.sh)

# Regenerate golden/ from examples/ (the only way golden files change).
golden: $(STAMP)
	$(BIN)/sacgen build examples -o golden

# Regenerate docs/yaml-reference.md and docs/cli-reference.md from the schemas and parsers.
docs: $(STAMP)
	$(BIN)/python tools/docsgen.py

# The stand-alone schemas the examples' editor modelines name
# (`# yaml-language-server: $schema=../agent.schema.json`).
schemas: $(STAMP)
	$(BIN)/sacgen schema --kind Agent > examples/agent.schema.json
	$(BIN)/sacgen schema --kind Reservation > examples/reservation.schema.json

demo: $(STAMP) cluster-up
	PATH="$(CURDIR)/$(BIN):$$PATH" bash demo/run.sh

bench: $(STAMP) cluster-up
	$(BIN)/python bench/run.py

cluster-up:
	bash cluster/up.sh

cluster-down:
	bash cluster/down.sh

cluster-status:
	bash cluster/status.sh

clean:
	rm -rf $(VENV) build dist *.egg-info
