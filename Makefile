# The two commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEVSTACK := docker/devstack/devstack

.PHONY: install venv system-deps demo test lint typecheck unit integration bench stack-start stack-stop clean

venv: $(BIN)/cti

$(BIN)/cti: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

system-deps:
	$(DEVSTACK) install

install: system-deps venv

lint: venv
	$(BIN)/ruff check cti ivr tests benchmarks migrations docker
	$(BIN)/ruff format --check cti ivr tests benchmarks migrations docker
	$(BIN)/mypy
	$(BIN)/lint-imports

test: install lint
	$(BIN)/pytest -q -p no:cacheprovider --durations=15

unit: venv
	$(BIN)/pytest -q tests/unit

integration: install
	$(BIN)/pytest -q tests/integration

demo: install
	$(BIN)/python docker/devstack/demo.py

bench: install
	$(BIN)/python benchmarks/replay.py

stack-start:
	$(DEVSTACK) start

stack-stop:
	$(DEVSTACK) stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
