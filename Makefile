# Realtime Playground. `make help` lists the targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## create the virtualenv and install dependencies

migrate: $(STAMP) ## apply database migrations
	$(BIN)/python manage.py migrate --noinput

run: migrate ## serve the playground on http://127.0.0.1:$(PORT) (emulator upstream unless YC_* are set)
	$(BIN)/python manage.py load_onboarding_presets
	$(BIN)/uvicorn playground.asgi:application --host 127.0.0.1 --port $(PORT) --ws websockets-sansio --lifespan off

test: $(STAMP) ## run the test suite (SQLite, in-memory channel layer, emulator)
	$(BIN)/pytest -m "not services and not browser"

bench: $(STAMP) ## measure the relay against a bare forwarder (QUICK=1: about a minute); writes docs/benchmarks.md
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

lint: $(STAMP) ## ruff lint and format check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy playground

format: $(STAMP) ## format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

token: migrate ## print an API token for USER=<name> (created if missing)
	@$(BIN)/python manage.py create_api_token $(USER)

emulator: $(STAMP) ## serve the emulator alone on PORT (default 8765)
	$(BIN)/python manage.py realtime_emulator --port $(or $(EMULATOR_PORT),8765)

clean: ## remove the virtualenv and local data
	rm -rf $(VENV) var staticfiles

.PHONY: help install migrate run test bench lint format token emulator clean
