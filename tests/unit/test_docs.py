"""The documentation site builds with every link and page in place (``mkdocs build --strict``), and the
README stays short: what it is, the two commands, one example, links."""

from __future__ import annotations

import os
import re
import subprocess

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
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()  # from the docstrings
    documented = ("dbt_task_group", "PodSettings", "DbtSparkRunOperator", "KyuubiProfileMapping")
    for text in documented:
        assert text in reference, text


def test_the_readme_is_short_and_links_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 8192
    assert "make demo" in readme and "make test" in readme
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", readme))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert linked == pages


def test_the_docs_describe_the_product_not_its_history():
    """No "first version", no write-up, no issue numbers: the pages say what the product is and does."""
    history = re.compile(r"first version|write-up|\bissue \d+|issue \d+'s", re.I)
    found = {
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("helm-values/*.yaml")]
        for match in history.finditer(path.read_text())
    }
    assert found == set()
