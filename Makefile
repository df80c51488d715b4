# Entry points: `make demo` and `make test`. Each sets up .venv by itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TEST_STAMP := $(VENV)/.installed-test
DEMO_STAMP := $(VENV)/.installed-demo
PORT ?= 8888

.PHONY: demo demo-terminal test bench-notebook venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,notebook]"
	touch $@

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[notebook,demo]"
	touch $@

venv: $(TEST_STAMP)

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

# JupyterLab on the teaching notebooks, on this machine only.
demo: $(DEMO_STAMP)
	@echo "Starting JupyterLab on notebooks/ — open the http://127.0.0.1:$(PORT)/lab?token=... URL it prints."
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(PORT) --no-browser \
		--ServerApp.root_dir=notebooks

# The approval workflow in the terminal, no Jupyter needed.
demo-terminal: $(TEST_STAMP)
	$(BIN)/python -m agentflow_nb.demo

bench-notebook: $(TEST_STAMP)
	$(BIN)/python bench/notebook_view.py

clean:
	rm -rf $(VENV)
