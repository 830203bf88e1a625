"""Usage and pg_isready read on this machine when the engine runs here: the container's cgroup files
from the host's /sys/fs/cgroup (v1 and v2, on a made-up tree), pg_isready from the host's network."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, cast

import pytest

from offgridflow_runbook.platforms.docker import driver, usage
from offgridflow_runbook.platforms.docker.engine_client import ContainerInfo, EngineClient

ID = "c0ffee" * 10


def v1_tree(root: Path, pid: int = 42) -> None:
    (root / f"proc/{pid}").mkdir(parents=True)
    (root / f"proc/{pid}/cgroup").write_text(
        f"4:memory:/docker/{ID}\n2:cpu,cpuacct:/docker/{ID}\n1:name=systemd:/docker/{ID}\n0::/docker/{ID}\n"
    )
    memory = root / f"sys/fs/cgroup/memory/docker/{ID}"
    memory.mkdir(parents=True)
    (memory / "memory.usage_in_bytes").write_text(f"{300 * 2**20}\n")
    (memory / "memory.stat").write_text(f"cache 5\ntotal_inactive_file {100 * 2**20}\n")
    cpu = root / f"sys/fs/cgroup/cpu,cpuacct/docker/{ID}"
    cpu.mkdir(parents=True)
    (cpu / "cpuacct.usage").write_text("1000000000\n")


def v2_tree(root: Path, pid: int = 42) -> None:
    (root / f"proc/{pid}").mkdir(parents=True)
    (root / f"proc/{pid}/cgroup").write_text(f"0::/system.slice/docker-{ID}.scope\n")
    (root / "sys/fs/cgroup").mkdir(parents=True)
    (root / "sys/fs/cgroup/cgroup.controllers").write_text("cpu memory\n")
    scope = root / f"sys/fs/cgroup/system.slice/docker-{ID}.scope"
    scope.mkdir(parents=True)
    (scope / "memory.current").write_text(f"{300 * 2**20}\n")
    (scope / "memory.stat").write_text(f"anon 1\ninactive_file {100 * 2**20}\n")
    (scope / "cpu.stat").write_text("usage_usec 1000000\nuser_usec 900000\n")


@pytest.mark.parametrize(("tree", "version"), [(v1_tree, "1"), (v2_tree, "2")])
def test_the_containers_cgroup_is_read_from_the_host(tree: Any, version: str, tmp_path: Path) -> None:
    tree(tmp_path)
    found = usage.host_cgroup(42, ID, tmp_path)
    assert found is not None
    memory_dir, cpu_dir, seen_version = found
    assert seen_version == version
    assert ID in str(memory_dir)
    assert ID in str(cpu_dir)
    sample = usage.host_cgroup_sample(*found)
    assert sample.working_set_bytes == 200 * 2**20
    assert sample.cpu_millicores == 0.0  # the made-up counter does not move
    assert sample.wall_nanoseconds[1] - sample.wall_nanoseconds[0] >= usage.CPU_SAMPLE_SECONDS * 1e9


def test_a_process_of_another_machine_or_container_is_not_read(tmp_path: Path) -> None:
    v1_tree(tmp_path)
    assert usage.host_cgroup(42, "another-container", tmp_path) is None
    assert usage.host_cgroup(43, ID, tmp_path) is None  # no such process here (a remote engine)


def stand_in(network: str = "host") -> ContainerInfo:
    """What container_usage and host_pg_isready read of a container."""
    return ContainerInfo.from_inspect(
        {
            "Id": ID,
            "Name": "/offgridflow-api",
            "State": {"Pid": 42},
            "HostConfig": {"Memory": 512 * 2**20, "NetworkMode": network},
        }
    )


class NoExec:
    """An engine whose exec would be a failure: the cgroup is on this machine."""

    def exec(self, *_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("an exec although the cgroup is on this machine")


def test_usage_on_this_machine_needs_no_exec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v2_tree(tmp_path)
    real = usage.host_cgroup
    monkeypatch.setattr(usage, "host_cgroup", lambda pid, cid: real(pid, cid, tmp_path))
    seen = usage.container_usage(cast(EngineClient, NoExec()), stand_in())
    assert (seen.memory_bytes, seen.memory_limit_bytes) == (200 * 2**20, 512 * 2**20)


def fake_pg_isready(directory: Path, exit_code: int) -> None:
    script = directory / "pg_isready"
    script.write_text(f'#!/bin/sh\necho "$2:$4 - from the host"\nexit {exit_code}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("exit_code", [0, 2])
def test_pg_isready_runs_on_the_host_network_and_keeps_its_exit_code(
    exit_code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pg_isready(tmp_path, exit_code)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(usage, "host_cgroup", lambda *_: (tmp_path, tmp_path, "2"))
    result = driver.host_pg_isready(stand_in())
    assert result is not None
    assert (result.command, result.exit_code) == (driver.PG_ISREADY, exit_code)
    assert result.output == "127.0.0.1:5432 - from the host\n"


def test_pg_isready_is_left_to_the_container_off_the_host_network_or_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_pg_isready(tmp_path, 0)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(usage, "host_cgroup", lambda *_: (tmp_path, tmp_path, "2"))
    assert driver.host_pg_isready(stand_in(network="bridge")) is None
    monkeypatch.setattr(usage, "host_cgroup", lambda *_: None)
    assert driver.host_pg_isready(stand_in()) is None
