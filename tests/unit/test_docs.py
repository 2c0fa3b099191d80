"""The documentation site builds with every link and page in place (``mkdocs build --strict``), the
public API's parameters come from ``:param`` lines of its docstrings, the pages and the docstrings they
render describe the product (not its history), and the README stays short: what it is, the two
commands, one example, links."""

from __future__ import annotations

import enum
import inspect
import os
import re
import subprocess

import griffe

import dbt_spark_operator
from dbt_spark_operator.project.config import FLAT_KEYWORDS
from helpers import BIN, ROOT


def test_the_docs_site_builds_strictly(tmp_path):
    proc = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "site" / "production" / "index.html").is_file()
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    rendered = set(re.findall(r'id="dbt_spark_operator\.[\w.]*\.(\w+)"', api))  # mkdocstrings' headings
    assert set(dbt_spark_operator.__all__) <= rendered, set(dbt_spark_operator.__all__) - rendered
    assert "the task group's id (default: the dbt project's name)" in api  # a :param line
    assert ":class:" not in api and ":func:" not in api  # Sphinx roles shown as code


def test_the_readme_is_short_and_links_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 8192
    assert "make demo" in readme and "make test" in readme
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", readme))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert linked == pages


def rendered_docstrings() -> dict[str, str]:
    """The docstrings the site renders: of every object a page names (``::: dbt_spark_operator...``)
    and of its public members, read as mkdocstrings reads them (griffe, no import)."""
    package = griffe.load("dbt_spark_operator", search_paths=[str(ROOT / "plugin")])
    docstrings = {}
    for page in sorted((ROOT / "docs").glob("*.md")):
        pending = [
            package[p] for p in re.findall(r"^::: dbt_spark_operator\.([\w.]+)", page.read_text(), re.M)
        ]
        while pending:
            obj = pending.pop()
            if obj.docstring is not None:
                docstrings[obj.path] = obj.docstring.value
            pending += [m for n, m in obj.members.items() if not n.startswith("_") and not m.is_alias]
    return docstrings


def test_the_docs_describe_the_product_not_its_history():
    """No "first version", no write-up, no issue numbers: the pages, and the docstrings they render, say
    what the product is and does."""
    history = re.compile(r"first version|write-up|\bissue \d+|issue \d+'s", re.I)
    texts = {
        str(path.relative_to(ROOT)): path.read_text()
        for path in [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("helm-values/*.yaml")]
    }
    docstrings = rendered_docstrings()
    assert "dbt_spark_operator.graph.task_group.dbt_task_group" in docstrings  # the API page's own
    texts.update({f"{path} (docstring)": text for path, text in docstrings.items()})
    found = {
        f"{where}: {match.group(0)}" for where, text in texts.items() for match in history.finditer(text)
    }
    assert found == set()


def _undocumented(func, doc: str | None, where: str) -> list[str]:
    """The parameters of ``func`` without a ``:param name:`` line in ``doc``. The flat keywords a
    function takes for DbtProject's and KyuubiProfile's fields (not in its code's signature) are
    documented once, on those classes."""
    code = inspect.unwrap(func).__code__
    own = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount + 2]
    names = [
        p
        for p in inspect.signature(func).parameters
        if p not in ("self", "cls") and (p in own or p not in FLAT_KEYWORDS)
    ]
    return [f"{where}({name})" for name in names if not re.search(rf"^\s*:param {name}:", doc or "", re.M)]


def _overrides(cls: type, name: str) -> bool:
    """``name`` is a hook of a base class from another library (Airflow's ``execute``, Cosmos's...)."""
    return any(
        name in vars(base) for base in cls.__mro__ if not base.__module__.startswith("dbt_spark_operator")
    )


def test_every_parameter_of_the_public_api_has_its_param_line():
    # What docs/api.md renders: each parameter's text is a ``:param name:`` line of the docstring, for
    # the functions, the constructors (a class's docstring, as merge_init_into_class renders it) and
    # the public methods the package defines (not the hooks it implements for Airflow or Cosmos).
    missing = []
    for name in dbt_spark_operator.__all__:
        obj = getattr(dbt_spark_operator, name)
        if not inspect.isclass(obj):
            missing += _undocumented(obj, obj.__doc__, name)
            continue
        if issubclass(obj, enum.Enum):
            continue  # constructed from a member's value only
        if "__init__" in vars(obj) and obj.__init__.__module__.startswith("dbt_spark_operator"):
            missing += _undocumented(obj.__init__, obj.__doc__, name)
        for attr, member in vars(obj).items():
            func = member.__func__ if isinstance(member, classmethod | staticmethod) else member
            if attr.startswith("_") or not inspect.isfunction(func) or _overrides(obj, attr):
                continue
            missing += _undocumented(func, func.__doc__, f"{name}.{attr}")
    assert missing == []
