# One entry point for the gateway's day-to-day commands.
#   make serve   run the gateway on the embedded example config (with a demo upstream)
#   make test    lint, type-check and run the whole test suite
#   make bench   run the in-process benchmarks (bench-e2e: proxy and discovery)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test serve bench bench-e2e lint typecheck pytest clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks fuzz examples
	$(BIN)/ruff format --check src tests benchmarks fuzz examples

typecheck: $(STAMP)
	$(BIN)/mypy --strict src/gwcore
	$(BIN)/mypy --strict src/gwtransports
	$(BIN)/mypy --strict tests benchmarks fuzz examples

# The whole suite under branch coverage; gwcore must stay at 100 %.
pytest: $(STAMP)
	$(BIN)/python -m coverage erase
	$(BIN)/python -m coverage run -m pytest -q
	$(BIN)/python -m coverage report --include='src/gwcore/*' --fail-under=100

test: lint typecheck pytest

serve: $(STAMP)
	$(BIN)/gw serve -c examples/gateway.yaml --demo

bench: $(STAMP)
	$(BIN)/python benchmarks/router.py
	$(BIN)/python benchmarks/core.py

# The end-to-end ones: they start servers (and etcd) and take minutes.
bench-e2e: $(STAMP)
	$(BIN)/python benchmarks/proxy.py
	$(BIN)/python benchmarks/discovery.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
