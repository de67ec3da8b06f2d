# facetex — one-command setup, demo and tests. Works on a machine that has only Python 3.11.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Database / cache location (never inside the repository).
export FACETEX_CACHE ?= $(HOME)/.cache/facetex

.PHONY: setup demo test test-fast bench bench-speed clean database

$(BIN)/facetex: requirements.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

setup: $(BIN)/facetex debian-packages node_modules/.package-lock.json  ## create .venv and install everything

# Debian parts: Chromium for the report's browser test, LLVM 19 for Mitsuba's fast llvm_ad_rgb
# variant (with the stock LLVM 15 a render aborts). Installed only when missing, and only as root.
DEBIAN_PACKAGES := chromium libllvm19

.PHONY: debian-packages
debian-packages:
	@missing=""; \
	for pkg in $(DEBIAN_PACKAGES); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$$missing; \
	else \
	  echo "facetex: please install the Debian packages:$$missing (sudo apt-get install -y$$missing)"; \
	fi

# npm parts (three.js for the report's viewer, playwright-core for its test), from the lock file.
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { echo "facetex: npm not found; install Node.js >= 20 with npm, then run make setup again"; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

demo: setup  ## run the main job on the built-in demo photo
	$(BIN)/facetex infer -o out/demo --overwrite

test: setup  ## run the test suite
	$(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup  ## timing benchmarks (write JSON to benchmarks/results/)
	$(BIN)/python benchmarks/bench_texture.py
	$(BIN)/python benchmarks/bench_fitting.py
	$(BIN)/python benchmarks/bench_detect.py

bench-speed: setup  ## issue 7: default vs paper recipe on 5 held-out London faces (~30 min), then the schedule study (~20 min)
	$(BIN)/python benchmarks/bench_speed.py --count 5 --paper-iterations 100
	$(BIN)/python benchmarks/bench_speed.py --study 512x100 512x100bf16 256x100bf16,512x30bf16 256x100bf16,512x50bf16 256x100bf16,512x30bf16+detail \
	  --count 2 --plot benchmarks/results/quality_vs_time.png

clean:
	rm -rf $(VENV) out *.egg-info

database: setup  ## build the default London database into the cache (once, ~15 min on a quiet 2-core CPU)
	$(BIN)/python -c "from facetex.database.build import ensure_default_database; print(ensure_default_database())"
