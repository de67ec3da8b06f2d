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
# For the tests only: Blender (and the numpy its glTF importer needs) to check that the exported
# head imports with its shape keys and textured materials; the test is skipped without it.
DEBIAN_TEST_PACKAGES := blender python3-numpy

define install_debian
	@missing=""; \
	for pkg in $(1); do \
	  dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2)$$missing; \
	else \
	  echo "facetex: please install the Debian packages:$$missing (sudo apt-get install -y$$missing)"; \
	fi
endef

.PHONY: debian-packages debian-test-packages
debian-packages:
	$(call install_debian,$(DEBIAN_PACKAGES))

debian-test-packages:
	$(call install_debian,$(DEBIAN_TEST_PACKAGES),--no-install-recommends)

# npm parts (three.js for the report's viewer, playwright-core for its test), from the lock file.
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || { echo "facetex: npm not found; install Node.js >= 20 with npm, then run make setup again"; exit 1; }
	npm ci --no-audit --no-fund
	touch $@

demo: setup  ## run the main job on the built-in demo photo
	$(BIN)/facetex infer -o out/demo --overwrite

test: setup debian-test-packages  ## run the test suite
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

# README figure (issue 18): three Helen photos (frontal, turned either way) textured with the old
# model (mediapipe's mask, commit $(OLD_MODEL_COMMIT), its schema-1 database) and the new one (the
# ICT face tile, the default database), rendered front / three-quarter / profile side by side into
# benchmarks/results/models_old_new.png (made from photos: never committed). Existing results in
# $(FIG_MODELS_DIR) are reused; ~3 min per photo and model on a quiet 2-core CPU.
FIG_MODELS_PHOTOS ?= 1426553012_1 103887554_1 106393487_1
FIG_MODELS_DIR    ?= /tmp/figmodels
OLD_MODEL_COMMIT  := 17c7c31
FIG_MODELS_DATA   := $(abspath $(or $(FACETEX_DATA),../shared/data))

.PHONY: figure-models
figure-models:  ## (after make setup) README figure: old vs new face model on 3 Helen photos (benchmarks/results/models_old_new.png)
	test -d $(FIG_MODELS_DIR)/wt-old || git worktree add --detach $(FIG_MODELS_DIR)/wt-old $(OLD_MODEL_COMMIT)
	set -e; for n in $(FIG_MODELS_PHOTOS); do \
	  test -f $(FIG_MODELS_DIR)/old/$$n/face.obj || ( cd $(FIG_MODELS_DIR)/wt-old && FACETEX_DATA=$(FIG_MODELS_DATA) \
	    $(abspath $(BIN))/python -c "import sys; from facetex.cli import main; sys.exit(main(sys.argv[1:]))" \
	    infer $(FIG_MODELS_DATA)/helen/$$n.jpg --db $(FACETEX_CACHE)/databases/london-v1-b2.h5 \
	    -o $(FIG_MODELS_DIR)/old/$$n --overwrite ); \
	  test -f $(FIG_MODELS_DIR)/new/$$n/face.obj || \
	    $(BIN)/facetex infer $(FIG_MODELS_DATA)/helen/$$n.jpg -o $(FIG_MODELS_DIR)/new/$$n --overwrite; \
	done
	git worktree remove --force $(FIG_MODELS_DIR)/wt-old
	$(BIN)/python benchmarks/fig_models.py --old $(addprefix $(FIG_MODELS_DIR)/old/,$(FIG_MODELS_PHOTOS)) \
	  --new $(addprefix $(FIG_MODELS_DIR)/new/,$(FIG_MODELS_PHOTOS))

clean:
	rm -rf $(VENV) out *.egg-info

database: setup  ## build the default London database into the cache (once, ~45 min on a quiet 2-core CPU)
	$(BIN)/python -c "from facetex.database.build import ensure_default_database; print(ensure_default_database())"

# README figure (issue 19): the same three Helen photos as complete heads rendered front /
# three-quarter / profile with subsurface scattering under the project's studio environment map,
# and the first head's rig driven neutral → smile → jaw open (a GIF and its frames), into
# benchmarks/results/heads*.png|gif|json (made from photos: never committed). ~2 min per photo.
.PHONY: figure-heads
figure-heads:  ## (after make setup) README figure: complete heads with subsurface scattering, and the rig in motion
	$(BIN)/python benchmarks/fig_heads.py $(addprefix $(FIG_MODELS_DATA)/helen/,$(addsuffix .jpg,$(FIG_MODELS_PHOTOS)))
