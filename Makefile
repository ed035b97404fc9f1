# painterly: make setup | demo | test | lint | bench
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

demo: setup
	$(BIN)/python examples/demo.py

test: setup
	sh tests/setup_browser.sh
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check painterly tests benchmarks examples tools

bench: setup
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)
	$(BIN)/python benchmarks/iter_speed.py --out benchmarks/results/iter_speed.md

clean:
	rm -rf $(VENV) out .pytest_cache
