"""Throughput and tail latency of the reference OffGridFlow API on this machine (a script, not a test).

    .venv/bin/python benchmarks/bench_api.py                  # starts PostgreSQL and the service itself
    OFFGRIDFLOW_TOKEN=... .venv/bin/python benchmarks/bench_api.py --base-url http://127.0.0.1:8080

Prints requests/s and p50/p99 latency for `GET /v1/activities?limit=1` and `POST /v1/activities`, each
for a bounded duration with a fixed number of concurrent keep-alive clients. The client runs on the same
cores as the service, so the rates are a floor for what the service alone could do; the service's CPU
time per request (from /proc) does not depend on what else the machine is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
ACTIVITY = {
    "source": "bench-generator",
    "quantity": 4.2,
    "unit": "kWh",
    "occurred_at": "2026-06-01T12:00:00Z",
}


@dataclass
class Scenario:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None
    expected_status: int


SCENARIOS = [
    Scenario("GET /v1/activities?limit=1", "GET", "/v1/activities?limit=1", None, 200),
    Scenario("POST /v1/activities", "POST", "/v1/activities", ACTIVITY, 201),
]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time the process has used (Linux /proc), or NaN when unknown."""
    if pid is None:
        return float("nan")
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    scenario: Scenario
    seconds: float
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    service_cpu_seconds: float = float("nan")

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")

    def line(self) -> str:
        ok = self.statuses.get(str(self.scenario.expected_status), 0)
        errors = sum(self.statuses.values()) - ok
        mean = statistics.fmean(self.latencies) if self.latencies else float("nan")
        return (
            f"{self.scenario.name:<30} {ok / self.seconds:8.1f} req/s"
            f"   p50 {self.percentile(0.50) * 1000:6.1f} ms"
            f"   p99 {self.percentile(0.99) * 1000:6.1f} ms"
            f"   mean {mean * 1000:6.1f} ms"
            f"   service CPU {self.service_cpu_seconds / max(ok, 1) * 1000:5.2f} ms/req"
            f"   n={ok} errors={errors} {dict(self.statuses) if errors else ''}"
        )


async def run_scenario(
    client: httpx.AsyncClient, scenario: Scenario, duration: float, concurrency: int
) -> Result:
    result = Result(scenario, duration)
    deadline = time.monotonic() + duration

    async def worker() -> None:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                answer = await client.request(scenario.method, scenario.path, json=scenario.body)
                status = str(answer.status_code)
            except httpx.HTTPError as error:
                status = type(error).__name__
            result.latencies.append(time.perf_counter() - started)
            result.statuses[status] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return result


async def benchmark(
    base_url: str, token: str, duration: float, concurrency: int, warmup: float, pid: int | None
) -> None:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=10.0) as client:
        seeded = await client.post("/v1/activities", json=ACTIVITY)
        if seeded.status_code != 201:
            raise SystemExit(f"cannot write an activity: {seeded.status_code} {seeded.text[:200]}")
        print(f"{base_url}: {concurrency} concurrent clients, {duration:g} s per endpoint")
        for scenario in SCENARIOS:
            await run_scenario(client, scenario, warmup, concurrency)
            cpu_before = cpu_seconds(pid)
            result = await run_scenario(client, scenario, duration, concurrency)
            result.service_cpu_seconds = cpu_seconds(pid) - cpu_before
            print(result.line(), flush=True)


def _load_fixtures() -> ModuleType:
    # the test fixtures know how to start a throw-away PostgreSQL and the service; reuse, do not copy
    spec = importlib.util.spec_from_file_location("offgridflow_test_fixtures", ROOT / "tests" / "conftest.py")
    if spec is None or spec.loader is None:
        raise SystemExit("cannot load tests/conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def local_service() -> Iterator[tuple[str, str, int]]:
    """Start PostgreSQL and `offgridflow-api` on free loopback ports; stop both afterwards."""
    import shutil
    import subprocess
    import tempfile

    fixtures = _load_fixtures()
    reason = fixtures._postgres_unavailable_reason()
    if reason:
        raise SystemExit(reason)
    root = Path(tempfile.mkdtemp(prefix="offgridflow-bench-"))
    postgres = fixtures.PostgresServer(root=root, port=fixtures.free_port())
    api = None
    try:
        postgres.init()
        http_port, metrics_port, token = fixtures.free_port(), fixtures.free_port(), "bench-token"
        env = fixtures.api_environment(
            postgres, http_port, metrics_port, token, {"OFFGRIDFLOW_LOG_LEVEL": "WARNING"}
        )
        log_path = root / "api.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [str(fixtures.API_SCRIPT)], env=env, stdout=log_file, stderr=subprocess.STDOUT
            )
        api = fixtures.ApiProcess(process, http_port, metrics_port, token, log_path, env)
        api.wait_ready()
        yield api.base_url, token, api.pid
    finally:
        if api is not None:
            api.stop()
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            postgres.stop("fast")
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base-url", help="benchmark a running service instead of starting one")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per endpoint (default 10)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--pid", type=int, help="with --base-url: the service's process id, to report its CPU"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds first (default 1)")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 300 or not 1 <= args.concurrency <= 256:
        parser.error("--duration must be in (0, 300] and --concurrency in 1..256")
    if args.base_url:
        token = os.environ.get("OFFGRIDFLOW_TOKEN", "")
        if not token:
            parser.error("set OFFGRIDFLOW_TOKEN to a bearer token of that service")
        asyncio.run(benchmark(args.base_url, token, args.duration, args.concurrency, args.warmup, args.pid))
        return 0
    with local_service() as (base_url, token, pid):
        asyncio.run(benchmark(base_url, token, args.duration, args.concurrency, args.warmup, pid))
    return 0


if __name__ == "__main__":
    sys.exit(main())
