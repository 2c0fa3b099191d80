"""The documentation site builds with every link and page in place (``mkdocs build --strict``), and the
README stays short: what it is, the two commands, one example, links."""

from __future__ import annotations

import os
import re
import subprocess

from conftest import BIN, ROOT


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


def test_the_readme_is_short_and_links_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 8192
    assert "make demo" in readme and "make test" in readme
    linked = set(re.findall(r"\]\(docs/([\w-]+\.md)\)", readme))
    pages = {p.name for p in (ROOT / "docs").glob("*.md")} - {"index.md"}
    assert linked == pages
