# Realtime Playground. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed
# PLAYGROUND_DATABASE_URL when it names PostgreSQL (the schemes serve-check accepts); empty otherwise.
PG_URL := $(filter postgres://% postgresql://% pgsql://%,$(PLAYGROUND_DATABASE_URL))

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install dependencies

migrate: $(STAMP) ## apply database migrations (creating the PostgreSQL database first, if missing)
	$(if $(PG_URL),$(BIN)/python manage.py database_ensure)
	$(BIN)/python manage.py migrate --noinput

run: migrate ## serve the playground on http://127.0.0.1:$(PORT) (emulator upstream unless YC_* are set)
	$(BIN)/python manage.py load_onboarding_presets
	$(BIN)/uvicorn playground.asgi:application --host 127.0.0.1 --port $(PORT) --ws websockets-sansio --lifespan off

serve: serve-check migrate ## serve with PLAYGROUND_WORKERS processes (default 2); needs PLAYGROUND_DATABASE_URL (PostgreSQL) and PLAYGROUND_REDIS_URL
	$(BIN)/python manage.py load_onboarding_presets
	$(BIN)/uvicorn playground.asgi:application --host 127.0.0.1 --port $(PORT) --ws websockets-sansio --lifespan off --workers $(or $(PLAYGROUND_WORKERS),2)

# Several processes must share the database and the channel layer: refuse, in words, before migrating.
serve-check:
	@if [ -z "$(PG_URL)" ]; then \
	  echo "make serve: set PLAYGROUND_DATABASE_URL to a PostgreSQL URL (e.g. postgres://user@127.0.0.1:5432/playground)." >&2; \
	  echo "  Several worker processes need one database server they all share: SQLite (the default) is a" >&2; \
	  echo "  local file with one writer at a time, not made for several processes. For one, use make run." >&2; \
	  exit 2; fi
	@if [ -z "$$PLAYGROUND_REDIS_URL" ]; then \
	  echo "make serve: set PLAYGROUND_REDIS_URL (e.g. redis://127.0.0.1:6379/0)." >&2; \
	  echo "  The in-memory channel layer (the default) does not cross processes: a REST call or a watcher" >&2; \
	  echo "  on one worker would never reach a session's relay on another. For one process, use make run." >&2; \
	  exit 2; fi

test: $(STAMP) ## run the test suite (SQLite, in-memory channel layer, emulator)
	$(BIN)/pytest -m "not services and not browser"

bench: $(STAMP) ## measure the relay against a bare forwarder, one worker and two (needs PostgreSQL, Redis; QUICK=1: about 4 minutes); writes docs/benchmarks.md
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

lint: $(STAMP) ## ruff lint and format check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy playground emulator bench

format: $(STAMP) ## format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

token: migrate ## print an API token for USER=<name> (created if missing)
	@$(BIN)/python manage.py create_api_token $(USER)

emulator: $(STAMP) ## serve the emulator alone on EMULATOR_PORT (default 8765)
	$(BIN)/python -m emulator --port $(or $(EMULATOR_PORT),8765)

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) var staticfiles

.PHONY: help install migrate run serve serve-check test bench lint format token emulator clean
