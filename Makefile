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

.PHONY: install tools docs demo demo-k8s ui test test-unit test-cluster test-py313 lint bench bench-cluster soak \
	engine-up engine-down \
	cluster cluster-down clean

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

## The same on the development cluster: cluster up, images, sample_dbt_pipeline with every task a pod, the
## per-task table and the rows, cluster down (tools/cluster/; needs root).
demo-k8s: install
	dbt-spark-operator engine fetch
	tools/cluster/with dbt-spark-operator demo --kubernetes

## A single-node Kubernetes 1.34 in its own mount and network namespace (tools/cluster/up: binaries built
## from the Go module proxy and cached by version in /var/cache/dbt-spark-operator, about 20 minutes cold).
## Commands reach it through tools/cluster/exec (KUBECONFIG set); cluster-down leaves nothing behind.
cluster:
	tools/cluster/up

cluster-down:
	tools/cluster/down

## The local engine and Airflow standalone with the project's DAGs (local execution) until Ctrl-C.
ui: install
	dbt-spark-operator ui

## The whole suite: the unit suite, the integration suite against real local engines and Airflow, the
## cluster suite (a real Airflow whose dbt tasks are pods on the development cluster), then the unit
## suite again on Python 3.13 in a Debian trixie root with the package installed from a wheel.
test: install tools
	pytest
	dbt-spark-operator engine fetch
	tools/cluster/with pytest tests/cluster
	tools/py313/run

## The cluster suite alone (starts and stops the cluster unless it is running).
test-cluster: install tools
	dbt-spark-operator engine fetch
	tools/cluster/with pytest tests/cluster

## The unit suite on Python 3.13 alone (tools/py313/run: debootstrap, chroot; needs root).
test-py313: install tools
	tools/py313/run

## The fast loop: the unit suite only (tests/unit: no engine, no Airflow services, no dbt run).
test-unit: install tools
	pytest tests/unit

## Benchmarks, not part of make test: DAG parse time and memory vs Cosmos's load paths (bench/RESULTS.md),
## whole-run time vs one dbt build and per-task overhead through a real Airflow (bench/RUN_RESULTS.md),
## then the soak.
bench: install
	python bench/parse_bench.py
	python bench/run_bench.py
	$(MAKE) bench-cluster
	python bench/soak.py

## Kubernetes execution on the development cluster: per-task pod overhead, kubernetes and watcher_kubernetes
## against one dbt build in one pod (the cluster section of bench/RUN_RESULTS.md, about 15 minutes).
bench-cluster: install
	dbt-spark-operator engine fetch
	tools/cluster/with python bench/cluster_bench.py

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
