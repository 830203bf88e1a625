"""The ``kind_session`` fixture: the kind cluster from kind-config.yaml with the kind overlay deployed.

Options (declared in ``tests/conftest.py``): ``--kind-bin`` (else ``$KIND_BIN``, else ``kind`` on
PATH; never downloaded) and ``--keep-cluster``. ``$KIND_NODE_IMAGE`` overrides the node image. A
cluster that already exists is reused and never deleted; one the session created is deleted at the
end unless ``--keep-cluster``.
Without a kind binary, Docker, or a pullable node image, every test using it skips with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from offgridflow_runbook.environments.kind import (
    KindSession,
    KindUnavailable,
    kind_settings,
    start_kind_session,
    stop_kind_session,
)
from offgridflow_runbook.pytest_plugin import progress_writer

REPOSITORY = Path(__file__).resolve().parents[2]


# The kind tier builds the toolchain and the node image the first time (long) and runs a cluster
# beside the local stack: `make test` turns it on; a plain `pytest tests` leaves it off.
KIND_TIER_ENV = "OFFGRIDFLOW_KIND_TIER"


@pytest.fixture(scope="session")
def kind_session(pytestconfig: pytest.Config) -> Iterator[KindSession]:
    if os.environ.get(KIND_TIER_ENV) != "1":
        pytest.skip(f"the kind tier is off: make test turns it on ({KIND_TIER_ENV}=1)")
    try:
        settings = kind_settings(
            kind_bin_option=pytestconfig.getoption("kind_bin"),
            keep_cluster=pytestconfig.getoption("keep_cluster"),
            root=REPOSITORY,
        )
        session = start_kind_session(settings, say=progress_writer(pytestconfig))
    except KindUnavailable as reason:
        pytest.skip(str(reason))
    # The cluster's API token in the kind target's token variable, as `source .state/kind/env` does.
    token_env = session.target(REPOSITORY / "targets.yaml").token_env
    before = os.environ.get(token_env)
    os.environ[token_env] = session.api_token()
    try:
        yield session
    finally:
        if before is None:
            os.environ.pop(token_env, None)
        else:
            os.environ[token_env] = before
        stop_kind_session(session)
