# Two commands do all setup on a fresh machine:
#   make demo   - a short demo chat on the embedded store
#   make test   - the whole test suite in one environment: ruff and mypy, then the embedded store
#                 and the Zep backend on /api/v1 (own httpx transport) and /api/v2 (zep-python
#                 2.x) against the test servers, both frameworks' adapters, the CLI and notebooks
PY ?= python3
VENV := .venv
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: demo test test-main lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[all,test]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/zep-memory demo

test: lint test-main

test-main: $(VENV)/.installed
	$(VENV)/bin/python -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check zep_memory_plugins tests benchmarks notebooks
	$(VENV)/bin/ruff format --check zep_memory_plugins tests benchmarks notebooks
	$(VENV)/bin/mypy

$(VENV)/.bench-installed: $(VENV)/.installed
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[all,test,bench]"
	touch $@

bench: $(VENV)/.bench-installed
	for b in store event_loop zep_backend langchain llama_index context peers; do $(VENV)/bin/python benchmarks/bench_$$b.py || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
