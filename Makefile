# Botyard: `make run` to try it, `make test` to check it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist processes for make test (the suite is mostly waiting on servers and browsers)
TEST_WORKERS ?= 2

.PHONY: run test lint format bench bench-http bench-api clean screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml sdk/python/pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]' -e ./sdk/python
	touch $@ $(VENV)/.installed

## Install, migrate, seed the Acme demo and serve on http://$(HOST):$(PORT) (make run PORT=19100)
run: export BOTYARD_HOST = $(HOST)
run: export BOTYARD_PORT = $(PORT)
run: $(VENV)/.installed
	$(BIN)/botyard db upgrade
	$(BIN)/botyard demo
	$(BIN)/botyard serve

## Install with dev extras (and the Python SDK) and run the whole suite (PostgreSQL/Redis parts skip if absent)
test: $(VENV)/.installed-dev
	$(BIN)/pytest -n $(TEST_WORKERS)

## ruff on everything; mypy on the server, and mypy --strict on the Python SDK (sdk/python)
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench sdk/python
	$(BIN)/ruff format --check src tests bench sdk/python
	$(BIN)/mypy
	cd sdk/python && ../../$(BIN)/mypy --strict

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix src tests bench sdk/python
	$(BIN)/ruff format src tests bench sdk/python

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/limiter.py
	$(BIN)/python bench/ranking.py
	$(BIN)/python bench/endpoints.py
	$(BIN)/python bench/widget.py

## HTTP throughput of /v1/me against /livez on a live server (needs wrk: apt-get install wrk)
bench-http: $(VENV)/.installed-dev
	$(BIN)/python bench/http_load.py

## The real workload (issue 13): bots, conversations, messages, analytics beside /healthz
## over HTTP and in process (needs wrk); ARGS="--database-url postgresql+asyncpg://…"
bench-api: $(VENV)/.installed-dev
	$(BIN)/python bench/api_workload.py $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## Retake the README's dashboard screenshots (docs/screenshots/) from the demo data
screenshots: $(VENV)/.installed-dev
	BOTYARD_UPDATE_SCREENSHOTS=1 $(BIN)/pytest -q tests/dashboard/test_screenshots.py tests/widget/test_widget_browser.py
