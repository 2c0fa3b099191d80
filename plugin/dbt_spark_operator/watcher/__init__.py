"""Watcher execution: one ``dbt build`` builds the whole selection with dbt's threads, and every seed,
model, snapshot and test keeps its own task, which mirrors its node's result from that build.

- The **build** task (``<group>.dbt_build``) runs ``dbt build`` in the worker and publishes each node's
  result to XCom (key ``dbt_build``) as dbt finishes it.
- Every **node task** starts in the triggerer (Airflow's ``start_from_trigger``), not in a worker: its
  :class:`NodeTrigger` waits for the node's result and ends the task there (success, or failure with the
  task's own retries). A task that declares an asset resumes in a worker for the asset event only. A
  task runs its node itself (as in ``local`` execution) when the build cannot give it a result it has
  not mirrored yet: the task was cleared or retried after mirroring, dbt skipped the node, or the build
  ended without it.
- A cleared build task (a whole run cleared, or "clear failed tasks") builds again, in one ``dbt
  build``, the nodes whose tasks did not succeed.

``watcher_kubernetes`` (:mod:`.pod`) builds in one pod instead and reads the
results from the pod's log; its node tasks are the same mirrors, of the Kubernetes execution's tasks.

Why not Cosmos's ``ExecutionMode.WATCHER``: its consumers are sensors that take a worker to start, defer,
and take another to resume; with hundreds of nodes that worker churn, not dbt, is the run's cost, and a
deferral's exit races the trigger that fires at once (an Airflow core race, see docs/watcher.md). A
node task here occupies no worker unless it has dbt work or an asset event to do.

Modules: :mod:`.build` (the build task and its results), :mod:`.events` (dbt's events as node results),
:mod:`.mirror` (the node tasks, and the classes of local ones), :mod:`.pod` (the build in one pod, and the
classes of Kubernetes node tasks). May import: :mod:`~dbt_spark_operator.graph.dbt_task`,
:mod:`~dbt_spark_operator.runtime` (the node task classes a mirror's class extends: :mod:`.pod` only
those of Kubernetes), :mod:`~dbt_spark_operator.pod` (:mod:`.pod` only), :mod:`~dbt_spark_operator.results`,
:mod:`~dbt_spark_operator.compat`, Cosmos's build operators and Airflow's trigger API.
"""
