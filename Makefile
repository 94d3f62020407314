# Two commands do all setup on a fresh machine:
#   make demo   - a short demo chat on the embedded store
#   make test   - the whole test suite (embedded + zep-python 2.x, then zep-python 1.x, notebooks,
#                 ruff and mypy)
PY ?= python3
VENV := .venv
VENV1 := .venv-zep1
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: demo test test-main test-zep1 lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_FLAGS) -e ".[all,test]"
	touch $@

# zep-python 1.x cannot be installed beside 2.x (same module name): it gets its own venv.
$(VENV1)/.installed: pyproject.toml constraints/zep-python-1.txt
	$(PY) -m venv $(VENV1)
	$(VENV1)/bin/pip install $(PIP_FLAGS) -c constraints/zep-python-1.txt -e ".[server]" "zep-python==1.5.0" "pytest>=8" "pytest-asyncio>=0.24"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/zep-memory demo

test: lint test-main test-zep1

# Embedded store + Zep backend through zep-python 2.x (against the test server on 127.0.0.1),
# the LangChain and LlamaIndex adapters, the CLI and every notebook.
test-main: $(VENV)/.installed
	$(VENV)/bin/python -m pytest

# The contract suite and the Zep backend tests again, through zep-python 1.x and /api/v1.
test-zep1: $(VENV1)/.installed
	$(VENV1)/bin/python -m pytest tests/contract tests/store tests/server tests/zep tests/cli

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check zep_memory_plugins tests benchmarks
	$(VENV)/bin/mypy

bench: $(VENV)/.installed
	for b in store zep_backend langchain llama_index; do $(VENV)/bin/python benchmarks/bench_$$b.py || exit 1; done

clean:
	rm -rf $(VENV) $(VENV1) .pytest_cache .ruff_cache .mypy_cache
