# Optinbase — `make run` serves on http://127.0.0.1:8000, `make test` runs the suite.
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
PG_TEST_DB ?= optinbase_test
# Test processes (pytest-xdist), each with a PostgreSQL database of its own: one more
# than the cores, since ~15 % of a test process's time is spent waiting on the real
# servers, browsers and mail servers it drives (2 cores, back to back: 245 s with 3,
# 269 s with 4; earlier 303 s with 3, 328 s with 2).
TEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')

.PHONY: install migrate run test test-postgres bench messages clean

# The same packages through uv when it can be had (8 s from a cold cache, where pip
# takes 34 s: every CI run starts from a fresh clone), else through pip.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	( $(BIN)/pip install --quiet uv && $(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[test]' ) \
	  || ( $(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -e '.[test]' )
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/optinbase migrate

run: migrate
	$(BIN)/optinbase serve

# Runs on SQLite; on PostgreSQL too when TEST_POSTGRES_URL is set (see test-postgres).
# Bytecode is cached even where PYTHONDONTWRITEBYTECODE is set (some images set it):
# the suite starts a few hundred Python processes (servers, workers, commands), and
# each would compile the project's modules again (~9 % of the CLI tests' CPU).
PYTEST = env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest
test: install
	$(PYTEST) -n $(TEST_WORKERS)

# Prepares a local PostgreSQL (owner + application roles, fresh database) and
# runs the whole suite on both engines.
test-postgres: install
	scripts/prepare-postgres.sh $(PG_TEST_DB)
	TEST_POSTGRES_URL=postgresql://optinbase_app@127.0.0.1:5432/$(PG_TEST_DB) \
	TEST_POSTGRES_OWNER_URL=postgresql://optinbase_owner@127.0.0.1:5432/$(PG_TEST_DB) \
	$(PYTEST) -n $(TEST_WORKERS)

bench: install
	bash bench/run.sh

# Message ids used in src/ (Python and templates) into both catalogues: new ids
# arrive with an empty text to write in each language (the catalogue test fails
# until both are written); ids no longer used are dropped.
LOCALES = src/optinbase/i18n/locales
messages: install
	mkdir -p build
	$(BIN)/pybabel extract -F babel.cfg --no-location --omit-header --sort-output -o build/messages.pot src
	$(BIN)/pybabel update -i build/messages.pot -d $(LOCALES) --no-fuzzy-matching --ignore-obsolete -w 88

clean:
	rm -rf $(VENV) *.egg-info src/*.egg-info .pytest_cache
