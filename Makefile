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

clean:
	rm -rf $(VENV) out .pytest_cache
