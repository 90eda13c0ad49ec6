# Two commands do all the set-up on a fresh clone (see README):
#   make demo   - create .venv, install Suanli, plan a GPT-3-class training run
#   make test   - create .venv, install Suanli with dev tools, lint, type-check, run all tests
# Both are idempotent: the venv is rebuilt only when pyproject.toml changes.

PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test lint bench setup clean browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.stamp-* && touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/suanli demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium) \
	  || echo "note: chromium missing and not root; browser tests will be skipped (apt-get install chromium)"; }

test: $(STAMP) lint browser
	$(BIN)/python -m pytest -n 2 --durations=15

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
