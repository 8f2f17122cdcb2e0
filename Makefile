# pcfm: the Primary Care Funding Model. `make help` lists the targets.
# Every target creates or updates the local virtual environment .venv from requirements.lock
# first, so a fresh machine needs only Python 3.11 and pip. The lock pins the build backend too
# (hatchling, hatch-vcs), so pcfm itself is installed without build isolation.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.pcfm-installed
PYTEST_WORKERS ?= 2
# Small linear algebra is faster on one BLAS thread on this size of machine, and test
# workers running in parallel must not each start threads on every core.
export OPENBLAS_NUM_THREADS ?= 1
export OMP_NUM_THREADS ?= 1

# Quarto: where ../shared/tools/quarto exists (this project's development and CI machines),
# every target that renders or tests installs the shared Quarto 1.10.18 into .tools/quarto
# and uses it; elsewhere `make report` falls back to HTML and the rendering tests skip.
QUARTO_TOOLS := ../shared/tools/quarto
QUARTO_DIR := .tools/quarto
QUARTO_STAMP :=
ifneq ($(wildcard $(QUARTO_TOOLS)/install.sh),)
QUARTO_STAMP := .tools/.quarto-installed
# the rendering tests find it here; `pcfm run` finds Quarto on PATH (see the report targets)
export PCFM_QUARTO := $(abspath $(QUARTO_DIR))/bin/quarto
WITH_QUARTO := PATH="$(abspath $(QUARTO_DIR))/bin:$$PATH"
endif

# The accessibility audit (tests/test_e2e_accessibility.py): axe-core and playwright-core,
# pinned in tests/a11y/package-lock.json, installed by `npm ci` where npm exists. Offline
# the install fails softly and the audit is skipped, saying why; Chromium is the system's.
A11Y_STAMP :=
ifneq ($(shell command -v npm 2>/dev/null),)
A11Y_STAMP := tests/a11y/node_modules/.pcfm-installed
endif

.DEFAULT_GOAL := help
.PHONY: help venv quarto a11y-tools report report-llr-public test lint format lock benchmark clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "pcfm needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

venv: $(STAMP) ## Create or update the virtual environment from the lock

.tools/.quarto-installed: $(QUARTO_TOOLS)/install.sh
	@mkdir -p .tools
	bash $(QUARTO_TOOLS)/install.sh $(QUARTO_DIR) >/dev/null
	@touch $@

quarto: $(QUARTO_STAMP) ## Install the shared Quarto into .tools/quarto (where ../shared/tools/quarto exists)

tests/a11y/node_modules/.pcfm-installed: tests/a11y/package-lock.json
	@cd tests/a11y && { npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && \
		touch node_modules/.pcfm-installed; } || \
		echo "npm ci failed in tests/a11y: the accessibility audit will be skipped"

a11y-tools: $(A11Y_STAMP) ## Install axe-core and playwright-core for the accessibility test (npm ci)

report: $(STAMP) $(QUARTO_STAMP) ## Run the model on the built-in synthetic ICB and render the report to build/demo/
	$(WITH_QUARTO) $(BIN)/pcfm run params/demo.yml

report-llr-public: $(STAMP) $(QUARTO_STAMP) ## Run on LLR's real practices from ../shared/data/public (synthetic activity)
	$(BIN)/pcfm setup --params params/llr-public.yml
	$(WITH_QUARTO) $(BIN)/pcfm run params/llr-public.yml

test: $(STAMP) $(QUARTO_STAMP) $(A11Y_STAMP) ## Lint, then run every test
	$(BIN)/ruff check .
	$(BIN)/pytest -n $(PYTEST_WORKERS)

lint: $(STAMP) ## Check the code style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check lib tests benchmarks

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format lib tests benchmarks

benchmark: $(STAMP) $(QUARTO_STAMP) ## Run the benchmarks at LLR scale (several minutes)
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-bench.lock
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

lock: ## Re-pin every dependency in requirements.lock from pyproject.toml
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --extra dev --strip-extras --allow-unsafe --no-emit-find-links \
		--no-emit-index-url --no-emit-trusted-host -o requirements.lock pyproject.toml

clean: ## Remove build outputs (not the virtual environment)
	rm -rf build .pytest_cache
