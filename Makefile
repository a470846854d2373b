# The two commands of the README: `make run` and `make test`. Both create and use .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test bench lint clean

$(STAMP): pyproject.toml setup.cfg
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m runner train lstm --devices cpu:0,cpu:1 --mode model-parallel --expect-val-loss 2.3
	$(BIN)/python -m runner train digits --workers 2 --mode sync --expect-accuracy 0.97
	$(BIN)/python -m runner train digits --workers 2 --ps 1 --mode async --expect-accuracy 0.95

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m runner bench all

lint: $(STAMP)
	$(BIN)/ruff check src workers tests examples

clean:
	rm -rf $(VENV) build src/*.egg-info
