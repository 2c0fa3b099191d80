"""One Airflow task per dbt test: the node converter
:func:`~dbt_spark_operator.graph.task_group.dbt_task_group` gives Cosmos for tests, and the
tests' task ids (the same in every process, at any name length)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator
from cosmos import RenderConfig
from cosmos.constants import DbtResourceType
from cosmos.dbt.graph import DbtNode

from dbt_spark_operator import compat
from dbt_spark_operator.errors import DbtSparkOperatorError
from dbt_spark_operator.project.manifest import Manifest

# Airflow takes task ids of up to 250 characters, group ids in front included: a test's own part stays
# within 200 (dbt names a test after its arguments, or a singular test after its file, at any length).
MAX_TEST_ID = 200


def test_task_id(name: str, unique_id: str, suffix: str = "") -> str:
    """A test's task id: its dbt name and ``suffix``, or, beyond :data:`MAX_TEST_ID` characters, the
    name's start and a digest of its unique id. The same in every process (Cosmos numbers long names of
    tests of several models with a process-wide counter, ``detached_<n>_test``, which a task process
    that renders only its node does not reproduce)."""
    task_id = f"{name}{suffix}"
    if len(task_id) <= MAX_TEST_ID:
        return task_id
    digest = hashlib.sha256(unique_id.encode()).hexdigest()[:10]
    return f"{name[: MAX_TEST_ID - len(suffix) - len(digest) - 1]}_{digest}{suffix}"


def detached_test_id(test: DbtNode) -> str:
    """The task id of a test of several models (Cosmos: ``<name>_test``), of any name length."""
    return test_task_id(test.resource_name.split(".")[0], test.unique_id, "_test")


class OneTaskPerTest:
    """Cosmos node converter for tests: one task per dbt test instead of one per tested model.

    Cosmos calls it for each model's ``test`` task (``node`` is the model): it returns one task per test of
    the model, in the model's group after its run task, so the group's downstream waits for all of them.
    Cosmos also calls it for each test of several models (``task_id`` is ``<test name>_test``; ``node`` is
    then not the test, so the test is looked up by that id), which stays one task. Each task is an
    ``operator_class`` (the execution's test task class).
    """

    __name__ = "one_task_per_test"  # Cosmos logs converters by name

    def __init__(
        self,
        manifest: Path,
        parsed: Callable[[], Manifest],
        render_config: RenderConfig,
        operator_class: type,
    ) -> None:
        self.manifest = manifest
        self.parsed = parsed
        self.render_config = render_config
        self.operator_class = operator_class
        self._by_parent: dict[str, list[DbtNode]] = {}
        self._detached: dict[str, DbtNode] = {}
        self._names: dict[str, str] = {}
        self._loaded = False

    def _load(self) -> None:
        """Index the manifest's tests (read on the first call only)."""
        # Cosmos does not hand the nodes it read to converters: our typed read of the manifest.
        for test_id, item in self.parsed().nodes.items():
            if item.resource_type != "test":
                continue
            test = DbtNode(
                unique_id=test_id,
                resource_type=DbtResourceType.TEST,
                depends_on=item.depends_on.nodes,
                path_base=self.manifest.parent.parent,
                original_file_path=Path(item.original_file_path),
                package_name=item.package_name,
                tags=item.tags,
                config=item.config,
                fqn=item.fqn,
            )
            self._names[test_id] = item.name
            if len(test.depends_on) == 1:
                self._by_parent.setdefault(test.depends_on[0], []).append(test)
            else:  # a test of several models: the id Cosmos asks for (compat.cosmos_detached_test_ids)
                self._detached[detached_test_id(test)] = test
        self._loaded = True

    def _task(
        self, task_id: str, test: DbtNode, dag: Any, task_group: Any, kwargs: dict[str, Any]
    ) -> BaseOperator:
        task: BaseOperator = compat.cosmos_test_task(
            task_id,
            test=test,
            operator_class=self.operator_class,
            render_config=self.render_config,
            converter_kwargs=kwargs,
            dag=dag,
            task_group=task_group,
        )
        return task

    def __call__(
        self, *, dag: Any, task_group: Any, node: DbtNode, task_id: str, **kwargs: Any
    ) -> BaseOperator | list[BaseOperator]:
        if not self._loaded:
            self._load()
        if task_id in self._detached:
            return self._task(task_id, self._detached[task_id], dag, task_group, kwargs)
        if task_id != "test":
            raise DbtSparkOperatorError(f"dbt test task {task_id!r}: no such test in {self.manifest}")
        tests = self._by_parent.get(node.unique_id, [])
        names = [self._names[test.unique_id] for test in tests]
        return [  # task id: the test's name, with dbt's hash suffix only where two names clash
            self._task(
                test_task_id(name if names.count(name) == 1 else test.name, test.unique_id),
                test,
                dag,
                task_group,
                kwargs,
            )
            for name, test in zip(names, tests, strict=True)
        ]
