# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make demo   installs aiq into .venv and runs the main job on the embedded defaults
#   make test   installs aiq with its test tools into .venv and runs the tests
# make test-all also runs the long end-to-end scenarios (marked slow); CI runs both.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo test test-slow test-all check lint typecheck bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/aiq demo

test: install
	$(BIN)/pytest -n 2 --dist loadgroup -m "not slow" $(PYTEST_ARGS)

test-slow: install
	$(BIN)/pytest -n 2 --dist loadgroup -m slow $(PYTEST_ARGS)

test-all: test test-slow

lint: install
	$(BIN)/ruff format --check aiq tests bench scripts
	$(BIN)/ruff check aiq tests bench scripts

typecheck: install
	$(BIN)/mypy aiq

check: lint typecheck test

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
