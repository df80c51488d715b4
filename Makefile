# Entry points: `make demo` and `make test`. Each sets up .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_STAMP := $(VENV)/.installed-test
DEMO_STAMP := $(VENV)/.installed-demo
E2E_STAMP := $(VENV)/.installed-e2e
BENCH_STAMP := $(VENV)/.installed-bench
PORT ?= 8888

.PHONY: demo demo-terminal test e2e chromium postgres docs-screenshots bench bench-nested bench-roundtrip bench-instructions bench-notebook venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,notebook,postgres]"
	touch $@

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[notebook,demo,postgres]"
	touch $@

$(E2E_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,notebook,demo,e2e,postgres]"
	touch $@

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,notebook,bench,postgres]"
	touch $@

venv: $(TEST_STAMP)

# The PgCheckpointer tests start a throwaway PostgreSQL server (or use AGENTFLOW_PG_DSN).
test: $(TEST_STAMP) postgres
	$(BIN)/python -m pytest

# PostgreSQL's server programs (Debian's package) when neither they nor AGENTFLOW_PG_DSN are there.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || \
		[ -n "$$AGENTFLOW_PG_DSN" ] || { apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; }

# Browser tests: JupyterLab and Notebook 7 driven in Debian's Chromium (screenshots in e2e-screenshots/).
e2e: $(E2E_STAMP) chromium
	$(BIN)/python -m pytest e2e -p no:cacheprovider

# docs/ pictures (and the README's), taken by the last `make e2e` run at 1280x800.
DOCS_SHOTS := lab-triage-paused-before-send:debugger lab-dark-paused:debugger-dark \
	lab-4-viewing-step-1:time-travel lab-pipeline-50-nodes:pipeline-50-nodes lab-6-stopping:stopping \
	notebook7-2-invalid-edits-refused:edit-errors-notebook7 \
	lab-nested-4-approval-inside-writer:nested-debugger
docs-screenshots:
	@for pair in $(DOCS_SHOTS); do cp "e2e-screenshots/$${pair%%:*}.png" "docs/$${pair##*:}.png"; done

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
bench: $(BENCH_STAMP) postgres
	$(BIN)/python bench/run.py

# Only the nested-graph section (a step inside a subgraph vs flat, vs LangGraph), printed.
bench-nested: $(BENCH_STAMP)
	$(BIN)/python bench/nested.py

bench-roundtrip: $(BENCH_STAMP)
	$(BIN)/python bench/roundtrip.py

# The engine's own cost in instructions per step (callgrind: independent of the machine's load).
bench-instructions: $(BENCH_STAMP)
	@command -v valgrind >/dev/null 2>&1 || { apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends valgrind; }
	$(BIN)/python bench/instructions.py

bench-notebook: $(TEST_STAMP)
	$(BIN)/python bench/notebook_view.py

clean:
	rm -rf $(VENV)
