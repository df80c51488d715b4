# Entry points: `make demo` and `make test`. Each sets up .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_STAMP := $(VENV)/.installed-test
DEMO_STAMP := $(VENV)/.installed-demo
E2E_STAMP := $(VENV)/.installed-e2e
BENCH_STAMP := $(VENV)/.installed-bench
PORT ?= 8888

.PHONY: demo demo-terminal test e2e chromium bench bench-notebook venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,notebook]"
	touch $@

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[notebook,demo]"
	touch $@

$(E2E_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,notebook,demo,e2e]"
	touch $@

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,notebook,bench]"
	touch $@

venv: $(TEST_STAMP)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

# Browser tests: JupyterLab and Notebook 7 driven in Debian's Chromium (screenshots in e2e-screenshots/).
e2e: $(E2E_STAMP) chromium
	$(BIN)/python -m pytest e2e -p no:cacheprovider

chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium fonts-liberation; }

# JupyterLab on the teaching notebooks, on this machine only.
demo: $(DEMO_STAMP)
	@echo "Starting JupyterLab on notebooks/; open the address it prints below (it carries the login token)."
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --no-browser --allow-root \
		--ServerApp.root_dir=notebooks

# The approval workflow in the terminal, no Jupyter needed.
demo-terminal: $(TEST_STAMP)
	$(BIN)/python -m agentflow_nb.demo

# Side by side with LangGraph, Burr and pydantic-graph; rewrites bench/README.md.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

bench-notebook: $(TEST_STAMP)
	$(BIN)/python bench/notebook_view.py

clean:
	rm -rf $(VENV)
