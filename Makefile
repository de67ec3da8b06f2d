# facetex — one-command setup, demo and tests. Works on a machine that has only Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Database / cache location (never inside the repository).
export FACETEX_CACHE ?= $(HOME)/.cache/facetex

.PHONY: setup demo test test-fast bench clean

$(BIN)/facetex: requirements.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(BIN)/facetex  ## create .venv and install everything

demo: setup  ## run the main job on the built-in demo photo
	$(BIN)/facetex demo -o out/demo

test: setup  ## run the test suite
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup  ## timing benchmarks (write JSON to benchmarks/results/)
	$(BIN)/python benchmarks/bench_texture.py

clean:
	rm -rf $(VENV) out *.egg-info
