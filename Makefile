# The two commands a user needs: `make gameday` (the main job) and `make test`. Both set up a fresh
# Debian machine themselves (Debian packages, the .venv, the images).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: help system-deps venv lint test unit images up down clean

help:
	@echo "make gameday   the game day: the local stack up, then the four chaos experiments and the scorecard"
	@echo "make test      set up everything, then lint and run the suite's own tests"
	@echo "make lint      ruff, mypy and actionlint (the workflows)"
	@echo "make up        the local stack on Docker (PROFILE=fast|production); make down keeps data, make clean not"

system-deps:
	@bash scripts/install-system-deps.sh

# The suite's dependencies (extras service and dev) come from the lock, exactly and hash-checked; the
# project itself is installed editable without its ranges. A changed lock or pyproject re-installs.
# (The lock is made with pip-compile: see its header; pyproject.toml keeps the ranges for users.)
# uv installs them (pinned and hash-checked in requirements/uv.txt, put in by pip): a fresh clone's
# venv takes about 16 s with its bytecode (pip took 50 s). It uses the system's certificates, as pip does.
# Bytecode is compiled at install, as pip does and uv does not by default: where PYTHONDONTWRITEBYTECODE
# is set (it is on this machine), nothing would ever write it, and every Python process (each check
# run, each CLI a test starts) compiled pytest, httpx and the rest from source again: `pytest checks
# --co` took 1.2 s instead of 0.4 s. The project's own packages are compiled once here too.
LOCK := requirements/lock.txt
UV_LOCK := requirements/uv.txt
UV := UV_NATIVE_TLS=1 $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
$(STAMP): $(LOCK) $(UV_LOCK) pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --require-hashes -r $(UV_LOCK)
	$(UV) --require-hashes -r $(LOCK)
	$(UV) --no-deps -e .
	$(BIN)/python -m compileall -q src checks chaos > /dev/null
	touch $@

venv: $(STAMP)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	"$$(bash tools/lint/build-actionlint.sh)" .github/workflows/*.yml

# The kind tier is on here: it builds the kind toolchain and node image the first time (long; cached
# in /var/cache/offgridflow-cluster) and reuses a running cluster. scripts/make-test.sh starts that
# Go build first, in the background beside the venv and the lint, then runs them, builds the
# cluster's own kubectl (the tests use it; linked alone into .state/bin so that the cluster's other
# binaries, its prometheus and kind, do not shadow the host's) and the suite. Go comes from
# scripts/ensure-go.sh (fetched when this machine's is missing or too old). The Docker e2e tests, the
# kind tests and the units run side by side, a tier each (scripts/test-tiers.sh; OFFGRIDFLOW_TIERS=serial
# for one after the other).
test: system-deps
	MAKE="$(MAKE)" bash scripts/make-test.sh $(PYTEST_ARGS)

# The local stack on Docker. Every command that changes it holds the stack lock that the tests take too.
STACK := flock -w 900 /tmp/offgridflow-stack.lock $(BIN)/python -m offgridflow_runbook.environments.local
PROFILE ?= fast

images: system-deps venv
	$(STACK) images

up: system-deps venv
	$(STACK) up --profile $(PROFILE)

down: venv
	$(STACK) down

clean: venv
	$(STACK) clean

# The kind cluster from kind-config.yaml with the kind overlay, on this machine without image downloads:
# the toolchain, node image and images are built here (docs/kind-offline.md; the first run is long).
# KIND_NODE_IMAGE=<image> uses that node image instead (GitHub Actions); kind is never downloaded.
.PHONY: kind-up kind-down
kind-up: system-deps venv
	OFFGRIDFLOW_ALERT_PROFILE=$(PROFILE) bash scripts/kind-up.sh

# Removes the cluster and its registry container (the registry's volume and the built images stay).
kind-down:
	bash scripts/kind-down.sh

# The game day (the main job): the local stack up, then the four experiments; reports/gameday/ gets
# scorecard.json, index.html, the post-incident records and the pytest-html report.
# TARGET=kind runs the same experiments on the kind cluster (make kind-up first, done here too).
# MODE=operator: the operator game day (people fix it; FAULT=oom|db-kill|...|random, GAMEDAY_ARGS=
# --unannounced ...; docs/operator-gameday.md).
TARGET ?= local
MODE ?=
FAULT ?= random
GAMEDAY_ARGS ?=
.PHONY: gameday
ifeq ($(MODE),operator)
gameday: $(if $(filter kind,$(TARGET)),kind-up,up)
	source $(if $(filter kind,$(TARGET)),.state/kind/env,.state/env) && $(BIN)/offgridflow-runbook gameday \
		--operator --target $(TARGET) --fault $(FAULT) $(GAMEDAY_ARGS)
else ifeq ($(TARGET),kind)
gameday: kind-up
	source .state/kind/env && $(BIN)/pytest chaos --target kind --html reports/gameday/pytest.html $(PYTEST_ARGS)
else
gameday: up
	source .state/env && $(BIN)/pytest chaos --target local --html reports/gameday/pytest.html $(PYTEST_ARGS)
endif
