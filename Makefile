# The two commands of the README: `make demo` and `make test`.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEVSTACK := docker/devstack/devstack

# Every dependency comes from the hash-locked files below; the package itself is
# built from them without build isolation, so nothing unhashed is installed.
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# The locks are for CPython 3.11 on Linux x86_64, the platform of CI and the images.
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
	--group pyproject.toml:build --custom-compile-command "make lock" --quiet

.PHONY: install venv lock system-deps demo test lint typecheck unit integration chaos bench stack-start stack-stop images clean

venv: $(BIN)/cti

$(BIN)/cti: pyproject.toml $(DEV_LOCK)
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $@

# Regenerates both locks from pyproject.toml, keeping the pinned versions that still
# fit (`make lock LOCK_ARGS=--upgrade` takes the newest). The runtime lock constrains
# the dev lock, so the two agree on every package they share. Only uv is needed from
# the old lock, so this also runs while the venv is out of date.
LOCK_ARGS ?=
lock:
	test -x $(BIN)/uv || { $(PY) -m venv $(VENV) && $(BIN)/pip install -q --require-hashes -r $(DEV_LOCK); }
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) $(LOCK_ARGS) -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --extra dev -c $(LOCK) $(LOCK_FLAGS) $(LOCK_ARGS) -o $(DEV_LOCK)

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

# The fault tests (issue 18): each stops or breaks a part of the devstack in the middle of
# calls and restores it. They also run in `make test`, with PostgreSQL down for 30 s
# instead of the issue's minute.
chaos: install
	CTI_TEST_PG_OUTAGE_S=60 $(BIN)/pytest -q -p no:cacheprovider --durations=0 -m chaos tests/integration

# `make demo DEMO_ARGS="--rate 10 --duration 300"`; docker/devstack/demo.py --help
DEMO_ARGS ?=
demo: install
	$(BIN)/python docker/devstack/demo.py $(DEMO_ARGS)

bench: install
	$(BIN)/python benchmarks/replay.py

# The container images (README "Run with containers"); tests/packaging/test_images.py
# builds them too, and runs them.
images: system-deps
	docker/containers/images build

stack-start:
	$(DEVSTACK) start

stack-stop:
	$(DEVSTACK) stop

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
