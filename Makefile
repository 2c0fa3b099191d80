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

.PHONY: install tools docs demo ui test test-unit test-py313 lint bench soak engine-up engine-down clean

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

## The documentation site (docs/, MkDocs) into .site/; make test builds it too (tests/unit/test_docs.py).
docs: install
	mkdocs build --strict

## Start the local engine, run the sample DAG, print its rows and tasks, stop the engine.
demo: install
	dbt-spark-operator demo

## The local engine and Airflow standalone with the project's DAGs (local execution) until Ctrl-C.
ui: install
	dbt-spark-operator ui

## The whole suite: the unit suite, the integration suite against real local engines and Airflow, then
## the unit suite again on Python 3.13 in a Debian trixie root with the package installed from a wheel.
test: install tools
	pytest
	tools/py313/run

## The unit suite on Python 3.13 alone (tools/py313/run: debootstrap, chroot; needs root).
test-py313: install tools
	tools/py313/run

## The fast loop: the unit suite only (tests/unit, under a minute).
test-unit: install tools
	pytest tests/unit

## Benchmarks, not part of make test: DAG parse time and memory vs Cosmos's load paths (bench/RESULTS.md),
## whole-run time vs one dbt build and per-task overhead through a real Airflow (bench/RUN_RESULTS.md),
## then the soak.
bench: install
	python bench/parse_bench.py
	python bench/run_bench.py
	python bench/soak.py

## Ten consecutive 100-model runs in watcher execution through a real Airflow, each must succeed at try 1
## (bench/SOAK_RESULTS.md, about 20 minutes).
soak: install
	python bench/soak.py

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
	rm -rf .airflow .engine .tools .site .cache dbt/analytics/target dbt/analytics/logs
