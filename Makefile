# Two commands for a newcomer: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench screenshots clean

$(VENV): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(VENV)

# The embedded server with demo data, and the workstation window signed in to it.
run: $(VENV)
	$(BIN)/switchboard demo

# Lint, type-check and the whole test suite.
test: $(VENV)
	$(BIN)/ruff check app tests bench tools
	$(BIN)/ruff format --check app tests bench tools
	$(BIN)/mypy
	$(BIN)/pytest

bench: $(VENV)
	$(BIN)/python -m bench

# The workstation's main states at 1440x900, offscreen, into docs/screenshots/.
screenshots: $(VENV)
	QT_QPA_PLATFORM=offscreen $(BIN)/python tools/screenshots.py

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
