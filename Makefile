# Two commands do all the set-up on a fresh clone (see README):
#   make demo   - create .venv, install Suanli, plan a GPT-3-class training run
#   make test   - create .venv, install Suanli with dev tools, lint, type-check, run all tests
# Both are idempotent: the venv is rebuilt only when pyproject.toml changes.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-$(shell cksum pyproject.toml Makefile | cksum | cut -d' ' -f1)
WL_STAMP := $(VENV)/.wl-$(shell cksum pyproject.toml Makefile | cksum | cut -d' ' -f1)
# PyTorch for the optional workloads extra (the tests run real GPT workloads): the CPU build
# (a plain `torch` from PyPI is the multi-GB CUDA build). Override with TORCH=... on a GPU
# machine. `make demo` does not need it.
TORCH ?= torch==2.13.0

.PHONY: demo test lint bench setup clean system-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.stamp-* $(VENV)/.wl-* && touch $@

$(WL_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q '$(TORCH)'
	$(BIN)/python -m pip install -q -e '.[dev,workloads]'
	@touch $@

setup: $(WL_STAMP)

demo: $(STAMP)
	$(BIN)/suanli demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments
	$(BIN)/mypy

# Debian packages the tests use for real: Chromium (dashboard e2e tests), PostgreSQL (the
# database tests also run against it) and bubblewrap (the job sandbox; escape tests). Installed
# when missing and we are root; otherwise those tests skip with a reason.
SYSTEM_PKGS := $(if $(shell command -v chromium),,chromium) \
               $(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql) \
               $(if $(shell command -v bwrap),,bubblewrap)
system-deps:
	@if [ -n "$(strip $(SYSTEM_PKGS))" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(SYSTEM_PKGS); \
	  else echo "note: missing $(SYSTEM_PKGS) and not root: their tests will be skipped"; fi; fi

test: $(WL_STAMP) lint system-deps
	$(BIN)/python -m pytest -n 2 --durations=15

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
