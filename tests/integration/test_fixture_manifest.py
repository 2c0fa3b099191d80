"""The unit suite's analytics manifest (tests/manifests/analytics.json, parsed by no one in the unit
suite) is what dbt parses from dbt/analytics today: when they differ, the file is rewritten from the
fresh parse and the test fails, to have the change reviewed and committed."""

from __future__ import annotations

import json

from helpers import FIXTURE_MANIFEST, manifest_text, normalized_manifest


def test_the_unit_suites_manifest_is_the_projects(manifest):
    fresh = manifest_text(normalized_manifest(json.loads(manifest.read_text())))
    if FIXTURE_MANIFEST.read_text() != fresh:
        FIXTURE_MANIFEST.write_text(fresh)
        raise AssertionError(
            f"{FIXTURE_MANIFEST} drifted from dbt/analytics: rewritten from dbt parse, review and commit it"
        )
