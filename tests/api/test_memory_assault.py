"""The memory assault really makes the serving process resident-larger, and only when enabled."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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


def assault(api: ApiProcess, mib: int, hold_seconds: float) -> httpx.Response:
    return httpx.post(
        api.base_url + f"/chaos/assaults/memory?mib={mib}&hold_seconds={hold_seconds}",
        headers=api.auth_headers,
        timeout=30,
    )


def wait_until_no_assault_runs(api: ApiProcess, deadline_s: float = 15) -> None:
    """Until a 1 MiB assault of 0.1 s is accepted (then that one ends too)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if assault(api, 1, 0.1).status_code == 200:
            time.sleep(0.3)
            return
        time.sleep(0.2)
    raise AssertionError(f"an assault still runs after {deadline_s} s")


def test_a_second_assault_while_one_is_held_is_409(assault_api: ApiProcess) -> None:
    wait_until_no_assault_runs(assault_api)
    assert assault(assault_api, 32, 3).status_code == 200
    second = assault(assault_api, 32, 1)
    assert second.status_code == 409
    assert "one at a time" in second.json()["detail"]
    wait_until_no_assault_runs(assault_api)  # after the hold, the next one is accepted again


def test_of_two_concurrent_assaults_exactly_one_runs(assault_api: ApiProcess) -> None:
    wait_until_no_assault_runs(assault_api)
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: assault(assault_api, 128, 1).status_code, range(2)))
    assert sorted(answers) == [200, 409]
    wait_until_no_assault_runs(assault_api)


CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")
CGROUP_V2 = Path("/sys/fs/cgroup")


def _v2_has_memory_controller() -> bool:
    controllers = CGROUP_V2 / "cgroup.controllers"
    return controllers.exists() and "memory" in controllers.read_text().split()


@contextlib.contextmanager
def memory_limited_cgroup(limit_mib: int) -> Iterator[Path]:
    """A fresh memory cgroup (v1 or v2) capped at `limit_mib` without swap, removed afterwards."""
    limit = str(limit_mib * 2**20)
    if (CGROUP_V1_MEMORY / "memory.limit_in_bytes").exists():
        group = CGROUP_V1_MEMORY / f"offgridflow-test-{os.getpid()}"
        files = {"memory.limit_in_bytes": limit, "memory.memsw.limit_in_bytes": limit}
    elif _v2_has_memory_controller():
        group = CGROUP_V2 / f"offgridflow-test-{os.getpid()}"
        files = {"memory.max": limit, "memory.swap.max": "0"}
    else:
        pytest.skip("no memory cgroup controller at /sys/fs/cgroup: cannot set a memory limit here")
    try:
        group.mkdir()
    except OSError as error:
        pytest.skip(f"cannot create a memory cgroup under {group.parent}: {error.strerror}")
    try:
        for name, value in files.items():
            if (group / name).exists():
                (group / name).write_text(value)
        yield group
    finally:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                group.rmdir()
                break
            except OSError:
                time.sleep(0.1)


def oom_kills(group: Path) -> int:
    """The cgroup's OOM-kill count (v1 memory.oom_control, v2 memory.events)."""
    for name in ("memory.oom_control", "memory.events"):
        if (group / name).exists():
            for line in (group / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
    return 0


def test_above_the_memory_limit_the_assault_is_a_kernel_oom_kill(api_factory: ApiFactory) -> None:
    api = api_factory(env={"OFFGRIDFLOW_CHAOS_ASSAULTS": "memory"}, wait="ready")
    with memory_limited_cgroup(limit_mib=192) as group:
        (group / "cgroup.procs").write_text(str(api.pid))
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                api.base_url + "/chaos/assaults/memory?mib=384&hold_seconds=30",
                headers=api.auth_headers,
                timeout=30,
            )
        status = api.wait_exit(timeout=30)
        kills = oom_kills(group)
    assert kills >= 1, "the kernel's OOM killer acted in that cgroup"
    assert status == -signal.SIGKILL, (
        f"expected a kernel OOM kill (SIGKILL), got {status}\n{api.logs[-2000:]}"
    )
    assert "memory assault starting" in api.logs
    assert "memory assault holding" not in api.logs
