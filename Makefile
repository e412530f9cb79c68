# Every target sets itself up from nothing: a fresh machine needs only python3 (3.11+) and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint typecheck unit browser stress bench clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

## The guided tour on a fresh store in a temporary directory.
demo: $(STAMP)
	$(BIN)/lsmkv demo

## The whole suite: lint, type check, tests (slow stress tests in their bounded CI form).
test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 -q

## The browser tests (tests/browser) drive Debian's Chromium headless; never a downloaded
## one. Installed here when missing and we may (root with apt-get, as in CI); otherwise
## those tests skip, saying why.
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the browser tests"; \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
			|| echo "chromium could not be installed: the browser tests will skip"; \
	fi

## The full stress campaign (10x the CI-sized one).
stress: $(STAMP)
	LSMKV_STRESS=full $(BIN)/python -m pytest -n 2 -q -m slow

## lsmkv side by side with RocksDB (rocksdict), LevelDB (plyvel) and SQLite.
## BENCH_ARGS passes options, e.g. make bench BENCH_ARGS="--num 200000".
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	$(BIN)/python -m lsmkv.bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
