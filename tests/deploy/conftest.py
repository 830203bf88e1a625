"""Fixtures for the deployment files' tests: the rendered base and overlays."""

from __future__ import annotations

import pytest

from helpers.deploy_files import KUSTOMIZATIONS, Manifest, render


@pytest.fixture(params=sorted(KUSTOMIZATIONS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[Manifest]]:
    """(name, objects) for the base and each overlay."""
    name = str(request.param)
    return name, render(KUSTOMIZATIONS[name])


@pytest.fixture
def base() -> list[Manifest]:
    return render(KUSTOMIZATIONS["base"])


@pytest.fixture
def kind_overlay() -> list[Manifest]:
    return render(KUSTOMIZATIONS["kind"])
