# Two commands for a fresh clone: `make demo` and `make test`. Everything else is a building block.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
TOOLS := $(CURDIR)/.tools/bin
HELM_VERSION := v3.17.3

export PATH := $(BIN):$(TOOLS):$(PATH):/usr/local/go/bin
export DBT_SPARK_ENGINE_HOME ?= $(CURDIR)/.engine
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export DO_NOT_TRACK := 1

.PHONY: install tools docs demo ui test lint bench engine-up engine-down clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local,dev]'
	touch $@

## Go tools the tests use, built from the Go module proxy into .tools/bin (helm: a few minutes, once).
tools: $(TOOLS)/helm

$(TOOLS)/helm:
	GOBIN=$(TOOLS) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

## The documentation site (docs/, MkDocs) into .site/; make test builds it too (tests/test_docs.py).
docs: install
	mkdocs build --strict

## Start the local engine, run the sample DAG, print its rows and tasks, stop the engine.
demo: install
	dbt-spark-operator demo

## The local engine and Airflow standalone with the project's DAGs (local execution) until Ctrl-C.
ui: install
	dbt-spark-operator ui

## The whole suite, against a real local engine.
test: install tools
	pytest

## Benchmarks, not part of make test: DAG parse time and memory vs Cosmos's load paths (bench/RESULTS.md),
## then whole-run time vs one dbt build and per-task overhead through a real Airflow (bench/RUN_RESULTS.md).
bench: install
	python bench/parse_bench.py
	python bench/run_bench.py

lint: install
	ruff check plugin dags tests bench
	ruff format --check plugin dags tests bench
	mypy

engine-up: install
	dbt-spark-operator engine up

engine-down: install
	dbt-spark-operator engine down

clean:
	-dbt-spark-operator engine down
	rm -rf .airflow .engine .tools .site dbt/analytics/target dbt/analytics/logs
