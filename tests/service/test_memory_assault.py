"""The memory assault really makes the serving process resident-larger, and only when enabled."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import ApiFactory, ApiProcess

pytestmark = pytest.mark.integration

ASSAULT_MIB = 256


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def test_disabled_by_default_the_assault_route_is_404(api_server: ApiProcess) -> None:
    answer = httpx.post(
        api_server.base_url + "/chaos/assaults/memory?mib=64&hold_seconds=1", headers=api_server.auth_headers
    )
    assert answer.status_code == 404


@pytest.fixture(scope="module")
def assault_api(api_factory: ApiFactory) -> ApiProcess:
    return api_factory(env={"OFFGRIDFLOW_CHAOS_ASSAULTS": "memory"}, wait="ready")


def test_the_assault_needs_the_bearer_token(assault_api: ApiProcess) -> None:
    answer = httpx.post(assault_api.base_url + "/chaos/assaults/memory?mib=64")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("query", ["mib=0", "mib=999999", "mib=64&hold_seconds=301", "hold_seconds=5"])
def test_out_of_range_assaults_are_422(assault_api: ApiProcess, query: str) -> None:
    answer = httpx.post(
        assault_api.base_url + f"/chaos/assaults/memory?{query}", headers=assault_api.auth_headers
    )
    assert answer.status_code == 422


def test_the_assault_raises_resident_memory_by_n_mib_then_frees_it(assault_api: ApiProcess) -> None:
    before = resident_mib(assault_api.pid)
    answer = httpx.post(
        assault_api.base_url + f"/chaos/assaults/memory?mib={ASSAULT_MIB}&hold_seconds=2",
        headers=assault_api.auth_headers,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    during = resident_mib(assault_api.pid)
    assert during - before >= ASSAULT_MIB * 0.95, (before, during)
    assert answer.json()["mib"] == ASSAULT_MIB

    deadline = time.monotonic() + 10
    while resident_mib(assault_api.pid) > during - ASSAULT_MIB * 0.9 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert resident_mib(assault_api.pid) <= during - ASSAULT_MIB * 0.9, "the memory is freed after the hold"
    assert httpx.get(assault_api.base_url + "/health/live").status_code == 200
