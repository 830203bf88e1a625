"""``kubectl top`` on Docker: a running container's memory and CPU, read from its own cgroup.

The engine's stats endpoint answers on its collector's next one-second tick, one-shot or not
(Docker 20.10), and that second was most of a check run. One exec of a small POSIX shell script reads
the same cgroup files the engine reads (v1 or v2) with a short CPU sampling window instead. When the
exec cannot run (no shell in the image, the container stopping), the engine's stats are used.
When the engine runs on this machine (the container's process is in this machine's /proc, in a cgroup
named after the container), the same files are read from the host's /sys/fs/cgroup instead: an exec
costs 100-300 ms of the engine's and the container's time, the files a few milliseconds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from offgridflow_runbook.platforms.base import Usage
from offgridflow_runbook.platforms.docker.engine_client import ContainerInfo, EngineClient, EngineError

CPU_SAMPLE_SECONDS = 0.1

# Prints: memory usage, inactive file cache, then CPU nanoseconds and wall nanoseconds twice. Inside
# the sampling window only shell builtins and ``sleep`` run: the script's own processes are in the
# container's cgroup and would count as the API's CPU.
_CGROUP_SCRIPT = f"""
set -eu
if [ -r /sys/fs/cgroup/memory.current ]; then
  read -r memory < /sys/fs/cgroup/memory.current; stat=/sys/fs/cgroup/memory.stat; inactive_key=inactive_file
  read_cpu() {{
    while read -r key value; do if [ "$key" = usage_usec ]; then cpu=$((value * 1000)); fi; done \\
      < /sys/fs/cgroup/cpu.stat
  }}
else
  read -r memory < /sys/fs/cgroup/memory/memory.usage_in_bytes; stat=/sys/fs/cgroup/memory/memory.stat
  inactive_key=total_inactive_file
  read_cpu() {{ read -r cpu < /sys/fs/cgroup/cpuacct/cpuacct.usage; }}
fi
inactive=0
while read -r key value; do if [ "$key" = "$inactive_key" ]; then inactive=$value; fi; done < "$stat"
wall_before=$(date +%s%N); read_cpu; cpu_before=$cpu
sleep {CPU_SAMPLE_SECONDS}
read_cpu; cpu_after=$cpu; wall_after=$(date +%s%N)
echo "$memory $inactive $cpu_before $wall_before $cpu_after $wall_after"
"""


@dataclass(frozen=True)
class CgroupSample:
    """What the script printed, as numbers."""

    memory_bytes: int
    inactive_file_bytes: int
    cpu_nanoseconds: tuple[int, int]
    wall_nanoseconds: tuple[int, int]

    @classmethod
    def parse(cls, output: str) -> CgroupSample:
        fields = [int(field) for field in output.split()]
        if len(fields) != 6:
            raise ValueError(f"expected 6 numbers from the cgroup script, got {output!r}")
        memory, inactive, cpu_before, wall_before, cpu_after, wall_after = fields
        return cls(memory, inactive, (cpu_before, cpu_after), (wall_before, wall_after))

    @property
    def working_set_bytes(self) -> int:
        """Usage minus inactive page cache: what ``docker stats`` and ``kubectl top`` show."""
        return max(self.memory_bytes - self.inactive_file_bytes, 0)

    @property
    def cpu_millicores(self) -> float:
        wall = self.wall_nanoseconds[1] - self.wall_nanoseconds[0]
        used = self.cpu_nanoseconds[1] - self.cpu_nanoseconds[0]
        return max(used, 0) / wall * 1000 if wall > 0 else 0.0


def host_cgroup(pid: int, container_id: str, root: Path = Path("/")) -> tuple[Path, Path, str] | None:
    """The container's memory and CPU cgroup directories on this machine, and the cgroup version
    ("1" or "2"); None when the process is not this machine's (a remote engine, another PID namespace)."""
    try:
        lines = (root / f"proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    controllers = {}
    for line in lines:
        _, names, path = line.split(":", 2)
        if container_id not in path:
            continue  # a reused PID, or a process of another container
        for name in names.split(",") if names else [""]:
            controllers[name] = (names, path.lstrip("/"))
    mount = root / "sys/fs/cgroup"
    if "" in controllers and (mount / "cgroup.controllers").exists():
        directory = mount / controllers[""][1]
        return directory, directory, "2"
    if "memory" in controllers and "cpuacct" in controllers:
        names, cpu_path = controllers["cpuacct"]
        cpu_mount = mount / names if (mount / names).is_dir() else mount / "cpuacct"
        return mount / "memory" / controllers["memory"][1], cpu_mount / cpu_path, "1"
    return None


def host_cgroup_sample(memory_dir: Path, cpu_dir: Path, version: str) -> CgroupSample:
    """What :data:`_CGROUP_SCRIPT` prints, read from the host's cgroup files (OSError if they vanish)."""
    if version == "2":
        memory = int((memory_dir / "memory.current").read_text())
        stat, inactive_key = memory_dir / "memory.stat", "inactive_file"
    else:
        memory = int((memory_dir / "memory.usage_in_bytes").read_text())
        stat, inactive_key = memory_dir / "memory.stat", "total_inactive_file"
    inactive = 0
    for line in stat.read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == inactive_key:
            inactive = int(value)

    def cpu() -> int:
        if version == "1":
            return int((cpu_dir / "cpuacct.usage").read_text())
        for line in (cpu_dir / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                return int(value) * 1000
        raise ValueError(f"{cpu_dir / 'cpu.stat'} has no usage_usec")

    wall_before, cpu_before = time.monotonic_ns(), cpu()
    # the sampling window kubectl top and docker stats have too; it runs beside the look's other reads
    time.sleep(CPU_SAMPLE_SECONDS)
    cpu_after, wall_after = cpu(), time.monotonic_ns()
    return CgroupSample(memory, inactive, (cpu_before, cpu_after), (wall_before, wall_after))


def container_usage(engine: EngineClient, container: ContainerInfo) -> Usage:
    """Memory (working set) and CPU of a running container, against its memory limit."""
    limit = container.attrs["HostConfig"].get("Memory") or None
    local = host_cgroup(int(container.attrs["State"].get("Pid") or 0), str(container.id))
    if local is not None:
        try:
            sample = host_cgroup_sample(*local)
            return Usage(container.name, sample.working_set_bytes, sample.cpu_millicores, limit)
        except (OSError, ValueError):
            pass  # the container stopped under us: the exec or the engine's stats say how it stands
    try:
        exit_code, output = engine.exec(container.id, ["sh", "-c", _CGROUP_SCRIPT])
        if exit_code == 0:
            sample = CgroupSample.parse(output)
            return Usage(container.name, sample.working_set_bytes, sample.cpu_millicores, limit)
    except (EngineError, ValueError):
        pass  # the engine's stats below answer whatever the image holds
    return _engine_stats_usage(engine, container, limit)


def _engine_stats_usage(engine: EngineClient, container: ContainerInfo, limit: int | None) -> Usage:
    stats = engine.stats(container.id)
    memory = stats.get("memory_stats", {})
    inactive = memory.get("stats", {}).get("total_inactive_file", memory.get("stats", {}).get("cache", 0))
    cpu, before = stats.get("cpu_stats", {}), stats.get("precpu_stats", {})
    cpu_delta = cpu.get("cpu_usage", {}).get("total_usage", 0) - before.get("cpu_usage", {}).get(
        "total_usage", 0
    )
    system_delta = cpu.get("system_cpu_usage", 0) - before.get("system_cpu_usage", 0)
    cores = cpu.get("online_cpus") or 1
    millicores = (cpu_delta / system_delta) * cores * 1000 if system_delta > 0 else 0.0
    working_set = max(int(memory.get("usage", 0)) - int(inactive), 0)
    return Usage(container.name, working_set, millicores, limit)
