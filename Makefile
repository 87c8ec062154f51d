# Two commands do all the set-up on a fresh machine with Python 3.11+:
#   make demo   installs aiq into .venv and runs the main job on the embedded defaults
#   make test   installs aiq with its test tools into .venv and runs the tests
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: install demo test check lint typecheck bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/aiq demo

test: install
	$(BIN)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

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
