# painterly: make setup | demo | test | lint | bench | gpu-check
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: setup demo test lint bench clean gpu-check

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

# On a machine with a CUDA GPU and the CUDA build of torch: tests on the GPU, the CUDA
# per-iteration table and default runs at 512-4096 px -> benchmarks/results/gpu.md.
# GPU_PYTHON defaults to the venv's python, else python3 (a system-wide CUDA torch).
GPU_PYTHON ?= $(shell test -x $(BIN)/python && echo $(BIN)/python || echo python3)
gpu-check:
	$(GPU_PYTHON) benchmarks/gpu_check.py $(GPU_ARGS)
