"""The manifests' schema is the running cluster's: the unit tests validate every overlay against the
bundled schema of the cluster's minor version (tests/deploy); here the cluster itself says its version
and validates the overlays server-side (a dry run: nothing is persisted)."""

from __future__ import annotations

import json

import pytest

from helpers.deploy_files import KUSTOMIZATIONS, schema_version

pytestmark = pytest.mark.kind


def test_the_unit_tests_schema_is_the_running_clusters_minor_version(kind_session):
    version = json.loads(kind_session.kubectl("get", "--raw", "/version"))
    # the offline node image runs the pinned patch release, kind's upstream image (CI) its .0
    assert f"{version['major']}.{version['minor'].rstrip('+')}.0" == schema_version(), version["gitVersion"]


@pytest.mark.parametrize("overlay", ["kind", "kind-offline"])
def test_the_cluster_accepts_every_object_of_the_kind_overlays_strictly(kind_session, overlay):
    out = kind_session.kubectl(
        "apply", "--dry-run=server", "--validate=strict", "-k", str(KUSTOMIZATIONS[overlay]), "-o", "name"
    )
    assert out.strip(), f"the dry run of {overlay} applied nothing"
