"""Benchmark `pytest checks --target T`: wall time per run, failures and flaky checks over N runs,
against the runbook done by hand and the sum of the bare HTTP round trips, measured in the same loop.

    .venv/bin/python benchmarks/bench_checks.py --target local --runs 50
    .venv/bin/python benchmarks/bench_checks.py --target local --http-only   # platform: none
    .venv/bin/python benchmarks/bench_checks.py --self-started   # its own PostgreSQL + offgridflow-api

The local stack is shared: hold its lock while measuring, e.g.
`flock -w 900 /tmp/offgridflow-stack.lock .venv/bin/python benchmarks/bench_checks.py`.

Goals (issue 3): a full run <= 1.5 s wall and <= 1.3 x the bare round trips; 0 failures, 0 flaky.
"Bare" = the same GETs (and the POST of the write check, on targets allowing writes) made one after
the other with plain httpx, no pytest. Each pytest run also reports, through
$OFFGRIDFLOW_SNAPSHOT_TIMINGS, how long its concurrent look at the target took: that is compared with
the bare sum too, since the rest of a run's wall time is interpreter and pytest start-up.
"http_span" is how long the HTTP reads of a look took together (they run concurrently, beside the
platform reads): the "HTTP probes run concurrently" goal. A whole run's wall time cannot be within
1.3 x a bare sum of ~20 ms: starting the interpreter and pytest alone takes longer; it is reported.

The by-hand yardstick (issue 24): Triage 1 and Verification 1-5 of the runbook as a person runs them,
one shell line after the other: the runbook's `curl` lines on the target's URLs, and on Docker each
`kubectl` line's Docker equivalent (runbook/commands.py, `platform_equivalent`), read from there, not
typed again. Verification 5 is a Grafana panel in the runbook: by hand it is the same error-rate query
sent to Prometheus with curl. Each pair (one by-hand pass, one `pytest checks` run) is alternated in
order; the medians, p95 and the ratio of the check run to the by-hand pass are reported in wall and in
CPU time (the children's user + system time). Goal: the check run within 3 x the by-hand pass.
Beside each pair, the same command with --collect-only and no reports measures the start-up every
check run pays before it reads the target (interpreter, pytest, its plugins, collection): its ratio to
the by-hand pass, and that of the start-up plus the look, say how much of the ratio is left to win.
Beside each pair too, `offgridflow-runbook monitor --target T --once` runs the same Triage 1 and
Verification 1-5 checks without pytest (what a scheduler can run instead, exit 0 or 1): its ratio to
the by-hand pass is reported beside the goal's, not in place of it.
If the stack stops answering (someone restarts it), the benchmark waits for it, bounded by --wait,
and measures the pair again.
Each pair prints one progress line on stderr; the summary is printed on stdout and written to
reports/bench/bench_checks.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from offgridflow_runbook.probes.prometheus import ERROR_RATE_ALERT, alert_expression, strip_threshold
from offgridflow_runbook.pytest_plugin import TIMINGS_ENV
from offgridflow_runbook.runbook.commands import platform_equivalent, render_command
from offgridflow_runbook.runbook.document import load_runbook
from offgridflow_runbook.targets import DEFAULT_TARGETS_FILE, Target, TargetError, load_target

ROOT = Path(__file__).resolve().parents[1]
MAX_RUNS = 200
WALL_GOAL_SECONDS = 1.5
RATIO_GOAL = 1.3
# The reads of a look that are HTTP round trips (the others are platform reads: Docker or Kubernetes).
HTTP_READS = ("live", "ready", "activities", "metrics", "error_rate", "alerts")
BY_HAND_STEPS = ("Triage 1", "Verification 1", "Verification 2", "Verification 3", "Verification 4")
BY_HAND_RATIO_GOAL = 3.0
# what a person can type as it stands: an equivalent in prose ("the docker platform replaces ...") is not
RUNNABLE = ("curl ", "docker ")


def by_hand_lines(target: Target) -> list[str]:
    """Triage 1 and Verification 1-5 as shell lines a person types on ``target``.

    The runbook's commands rendered for the target; on Docker a ``kubectl`` line becomes its Docker
    equivalent (a target without a platform: none). Verification 5 (the error rate, a Grafana panel
    in the runbook) is the alert rule's error rate sent to Prometheus with curl. ``$TOKEN`` stays:
    :func:`by_hand` sets it.
    """
    runbook = load_runbook()
    lines: list[str] = []
    for step in BY_HAND_STEPS:
        for command in runbook.step(step).commands:
            if target.platform == "none" and command.pipeline[0][0] == "kubectl":
                continue  # no platform to ask: the checks skip these reads too
            line = platform_equivalent(command, target) or render_command(command, target)
            if not line.startswith(RUNNABLE) and not (
                target.platform == "kubernetes" and line.startswith("kubectl ")
            ):
                raise SystemExit(f"bench_checks: {step}: no command a person can run for {command.text!r}")
            lines.append(line)
    if target.prometheus_url:
        expression = alert_expression(ERROR_RATE_ALERT)
        # the panel shows the rate itself: the rule's expression without its "> 0.01"
        query = shlex.quote(f"query={(strip_threshold(expression) or (expression,))[0]}")
        lines.append(f"curl -sfG {target.prometheus_url}/api/v1/query --data-urlencode {query}")
    return lines


def by_hand(lines: list[str], target: Target) -> tuple[float, float, list[str]]:
    """Run ``lines`` one after the other as a shell would: (wall s, CPU s of the commands, failed lines)."""
    env = {**os.environ, "TOKEN": target.token or ""}
    if target.kubeconfig:
        env["KUBECONFIG"] = str(target.kubeconfig)
    failed: list[str] = []
    cpu_before = _children_cpu()
    started = time.perf_counter()
    for line in lines:
        # a shell, as the person has: the lines use $TOKEN and a pipe (Verification 4)
        result = subprocess.run(  # noqa: S602
            line, shell=True, env=env, capture_output=True, timeout=30, check=False
        )
        if result.returncode != 0:
            failed.append(line)
    return time.perf_counter() - started, _children_cpu() - cpu_before, failed


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stack_answers(target: Target) -> bool:
    """The target's API says it is ready."""
    try:
        return httpx.get(f"{target.base_url}/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_for_stack(target: Target, seconds: float) -> None:
    """Wait, bounded, for a stack someone else restarts; exit with one line if it does not come back."""
    deadline = time.monotonic() + seconds
    while not stack_answers(target):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_checks: {target.base_url} did not answer ready within {seconds:.0f} s")
        time.sleep(2)


class StackDown(Exception):
    """The target stopped answering during a measurement (the stack is being restarted)."""


def bare_round_trips(target: Target) -> float:
    """The checks' HTTP requests, sequentially, with plain httpx: the sum of their durations."""
    token = target.token
    auth = {"Authorization": f"Bearer {token}"} if token else {}
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"{target.base_url}/health/live", {}),
        ("GET", f"{target.base_url}/health/ready", {}),
    ]
    if token:
        requests.append(("GET", f"{target.base_url}/v1/activities?limit=1", {"headers": auth}))
        if target.allow_writes:
            body = {
                "source": "bench",
                "quantity": 1.0,
                "unit": "kWh",
                "occurred_at": datetime.now(UTC).isoformat(),
            }
            requests.append(("POST", f"{target.base_url}/v1/activities", {"headers": auth, "json": body}))
    if target.metrics_url:
        requests.append(("GET", target.metrics_url, {}))
    if target.prometheus_url:
        expression = alert_expression(ERROR_RATE_ALERT)
        query = f"{target.prometheus_url}/api/v1/query"
        requests.append(("GET", query, {"params": {"query": expression}}))
        split = strip_threshold(expression)
        if split:
            requests.append(("GET", query, {"params": {"query": split[0]}}))
        requests.append(("GET", f"{target.prometheus_url}/api/v1/alerts", {}))
    total = 0.0
    with httpx.Client(timeout=5.0) as client:
        for method, url, options in requests:
            started = time.perf_counter()
            try:
                client.request(method, url, **options)
            except httpx.HTTPError as error:
                raise StackDown(f"target {target.name!r} does not answer {url}: {error}") from None
            total += time.perf_counter() - started
    return total


def pytest_command() -> list[str]:
    """The `pytest` console script a user runs, from this interpreter's environment."""
    script = Path(sys.executable).parent / "pytest"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pytest"]


def checks_command(targets_file: Path, target: str, *extra: str) -> list[str]:
    """`pytest checks -q --target T` as a user runs it, with ``extra`` arguments."""
    # `--targets-file=PATH` in one word: as two words the path would make pytest pick the
    # repository's pyproject.toml over checks/pytest.ini (and load the test-only plugins)
    return [
        *pytest_command(), str(ROOT / "checks"), "-q",
        "--target", target, f"--targets-file={targets_file}", *extra,
    ]  # fmt: skip


def _checks_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.pop("PYTEST_ADDOPTS", None)
    return env


def run_checks(
    targets_file: Path, target: str, workdir: Path
) -> tuple[float, float, dict[str, str], dict[str, Any]]:
    """One `pytest checks --target T` run: (wall s, CPU s, outcome per check, the look's timings)."""
    timings = workdir / "timings.json"
    env = _checks_env(**{TIMINGS_ENV: str(timings)})
    command = checks_command(targets_file, target)
    (workdir / "reports/checks/results.jsonl").unlink(missing_ok=True)
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    results = workdir / "reports/checks/results.jsonl"
    if not results.exists():
        raise SystemExit(
            f"bench_checks: the check run wrote no results:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    lines = results.read_text().splitlines()
    outcomes = {record["check"]: record["outcome"] for record in map(json.loads, lines)}
    snapshot = json.loads(timings.read_text()) if timings.exists() else {}
    return wall, cpu, outcomes, snapshot


def run_start_up(targets_file: Path, target: str, workdir: Path) -> tuple[float, float]:
    """The same command with ``--collect-only``: (wall s, CPU s) of what every check run pays before
    it reads the target (the interpreter, pytest and its plugins, the target profile, collection),
    with no look, no check and no report; exits with the output when it fails."""
    command = checks_command(
        targets_file, target, "--collect-only", "--html=", "--junitxml=", "--results-jsonl="
    )
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=workdir, env=_checks_env(), capture_output=True, text=True, timeout=120, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        output = f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        raise SystemExit(f"bench_checks: the start-up run failed:\n{output}")
    return wall, _children_cpu() - cpu_before


def run_without_pytest(targets_file: Path, target: str, workdir: Path) -> tuple[float, float, bool]:
    """`offgridflow-runbook monitor --once`: the same steps without pytest; (wall s, CPU s, passed)."""
    script = Path(sys.executable).parent / "offgridflow-runbook"  # the console script make venv installs
    if not script.exists():
        raise SystemExit(f"bench_checks: {script} is missing: run make venv")
    command = [str(script), "monitor", "--target", target, f"--targets-file={targets_file}", "--once"]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(
        command, cwd=workdir, env=_checks_env(), capture_output=True, text=True, timeout=120, check=False
    )
    wall = time.perf_counter() - started
    if result.returncode not in (0, 1):  # 1: a check failed, counted; anything else: it could not run
        output = f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        raise SystemExit(f"bench_checks: the run without pytest failed (exit {result.returncode}):\n{output}")
    return wall, _children_cpu() - cpu_before, result.returncode == 0


def http_only_targets_file(target: Target, directory: Path) -> Path:
    """The same target with platform `none`, to measure the HTTP part alone."""
    path = directory / "targets-http-only.yaml"
    # JSON is YAML: the profile reads back as the very target, with platform none
    path.write_text(json.dumps({"targets": {target.name: {**target.as_profile(), "platform": "none"}}}))
    return path


@contextlib.contextmanager
def self_started_service(directory: Path) -> Iterator[tuple[Target, Path]]:
    """A real PostgreSQL and `offgridflow-api` on free 127.0.0.1 ports (the test fixtures' classes),
    and an HTTP-only target file for them."""
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import API_SCRIPT, PostgresServer, api_environment, free_port  # the tests' own fixtures

    postgres = PostgresServer(root=Path(tempfile.mkdtemp(prefix="bench-pg-")), port=free_port())
    postgres.init()
    http_port, metrics_port, token = free_port(), free_port(), secrets.token_urlsafe(24)
    env = api_environment(postgres, http_port, metrics_port, token, {"OFFGRIDFLOW_LOG_LEVEL": "WARNING"})
    process = subprocess.Popen(
        [str(API_SCRIPT)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        target = Target(
            name="bench",
            platform="none",
            base_url=f"http://127.0.0.1:{http_port}",
            metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
            token_env="BENCH_CHECKS_TOKEN",
            allow_writes=True,
        )
        os.environ["BENCH_CHECKS_TOKEN"] = token
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{target.base_url}/health/ready", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit("bench_checks: the self-started API did not become ready within 30 s")
        yield target, http_only_targets_file(target, directory)
    finally:
        process.terminate()
        process.wait(timeout=15)
        postgres.stop("fast")
        shutil.rmtree(postgres.root, ignore_errors=True)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summarise(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "p95": percentile(values, 0.95), "max": max(values)}


def beside_by_hand(
    command: str, walls: list[float], cpus: list[float], hand_walls: list[float], hand_cpus: list[float]
) -> dict[str, Any]:
    """A command measured beside each pair: its times, and their medians over the by-hand pass's."""
    return {
        "command": command,
        "wall_seconds": summarise(walls),
        "cpu_seconds": summarise(cpus),
        "over_by_hand": {
            "wall": statistics.median(walls) / statistics.median(hand_walls),
            "cpu": statistics.median(cpus) / statistics.median(hand_cpus),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="local")
    parser.add_argument("--targets-file", type=Path, default=DEFAULT_TARGETS_FILE)
    parser.add_argument("--runs", type=int, default=50, help=f"number of runs (1..{MAX_RUNS}, default 50)")
    parser.add_argument(
        "--deadline", type=float, default=600.0, help="stop starting runs after this many seconds"
    )
    parser.add_argument(
        "--wait", type=float, default=300.0, help="how long to wait for a stack being restarted (s)"
    )
    parser.add_argument("--http-only", action="store_true", help="treat the target as platform none")
    parser.add_argument(
        "--self-started",
        action="store_true",
        help="start PostgreSQL + offgridflow-api and measure against them",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "reports/bench/bench_checks.json")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= MAX_RUNS:
        parser.error(f"--runs must be between 1 and {MAX_RUNS}")
    with tempfile.TemporaryDirectory(prefix="bench-checks-") as tmp, contextlib.ExitStack() as stack:
        workdir = Path(tmp)
        if args.self_started:
            target, targets_file = stack.enter_context(self_started_service(workdir))
            args.target = target.name
        else:
            try:
                target = load_target(args.target, args.targets_file)
            except TargetError as error:
                parser.error(str(error))
            targets_file = (
                http_only_targets_file(target, workdir) if args.http_only else args.targets_file.resolve()
            )
        hand_lines = by_hand_lines(target)
        walls: list[float] = []
        cpus: list[float] = []
        hand_walls: list[float] = []
        hand_cpus: list[float] = []
        hand_failed: set[str] = set()
        bares: list[float] = []
        looks: list[float] = []
        http_spans: list[float] = []
        floor_walls: list[float] = []
        floor_cpus: list[float] = []
        plain_walls: list[float] = []
        plain_cpus: list[float] = []
        plain_failed = 0
        failures = 0
        seen: dict[str, set[str]] = defaultdict(set)
        deadline = time.monotonic() + args.deadline
        for run in range(args.runs):
            if time.monotonic() > deadline:
                break
            for _attempt in range(3):
                wait_for_stack(target, args.wait)
                try:
                    bare = bare_round_trips(target)
                    # alternated: neither side always runs on the caches the other one warmed
                    if run % 2 == 0:
                        hand = by_hand(hand_lines, target)
                        checked = run_checks(targets_file, args.target, workdir)
                    else:
                        checked = run_checks(targets_file, args.target, workdir)
                        hand = by_hand(hand_lines, target)
                    floor = run_start_up(targets_file, args.target, workdir)
                    unpytested = run_without_pytest(targets_file, args.target, workdir)
                except (StackDown, SystemExit):
                    if stack_answers(target):
                        raise
                    continue  # restarted under us: this pair measured a stack going down
                if stack_answers(target):
                    break
            else:
                raise SystemExit("bench_checks: the stack went down during 3 attempts at one pair")
            bares.append(bare)
            hand_walls.append(hand[0])
            hand_cpus.append(hand[1])
            hand_failed.update(hand[2])
            wall, cpu, outcomes, snapshot = checked
            floor_walls.append(floor[0])
            floor_cpus.append(floor[1])
            plain_walls.append(unpytested[0])
            plain_cpus.append(unpytested[1])
            plain_failed += not unpytested[2]
            walls.append(wall)
            cpus.append(cpu)
            # progress on stderr: stdout carries the summary alone
            print(
                f"bench_checks: run {run + 1}/{args.runs}: check run {wall:.3f} s, "
                f"by hand {hand[0]:.3f} s, start-up {floor[0]:.3f} s, without pytest {unpytested[0]:.3f} s",
                file=sys.stderr,
                flush=True,
            )
            if snapshot:
                looks.append(float(snapshot["wall_seconds"]))
                http_reads = [snapshot["reads"][name] for name in HTTP_READS if name in snapshot["reads"]]
                if http_reads:
                    http_spans.append(max(http_reads))  # they start together: the slowest ends the span
            failures += sum(1 for outcome in outcomes.values() if outcome in ("failed", "error"))
            for check, outcome in outcomes.items():
                seen[check].add(outcome)
    flaky = sorted(check for check, outcomes in seen.items() if len(outcomes) > 1)
    bare_median = statistics.median(bares)
    wall_ratio = statistics.median(walls) / statistics.median(hand_walls)
    cpu_ratio = statistics.median(cpus) / statistics.median(hand_cpus)
    look_median = statistics.median(looks) if looks else None
    summary = {
        "target": args.target,
        "platform": "none" if args.http_only else target.platform,
        "self_started": args.self_started,
        "runs": len(walls),
        "wall_seconds": summarise(walls),
        "cpu_seconds": summarise(cpus),
        "by_hand": {
            "lines": hand_lines,
            "wall_seconds": summarise(hand_walls),
            "cpu_seconds": summarise(hand_cpus),
            "failed_lines": sorted(hand_failed),
        },
        "checks_over_by_hand": {"wall": wall_ratio, "cpu": cpu_ratio},
        # what any run of these checks costs before its look: the part of the ratio no look can win back
        "start_up": beside_by_hand(
            "the check run with --collect-only and no reports", floor_walls, floor_cpus, hand_walls, hand_cpus
        ),
        # the same steps without pytest, as a scheduler can run them: reported, not the goal
        "without_pytest": {
            **beside_by_hand(
                "offgridflow-runbook monitor --target T --once",
                plain_walls,
                plain_cpus,
                hand_walls,
                hand_cpus,
            ),
            "failed_runs": plain_failed,
        },
        # the start-up plus one look, the look's reads all concurrent (its slowest read): a lower bound
        # of a check run's wall time while the look starts after the start-up (no check, no report)
        "start_up_plus_look_over_by_hand": (
            (statistics.median(floor_walls) + look_median) / statistics.median(hand_walls)
            if look_median is not None
            else None
        ),
        "bare_http_sum_seconds_median": bare_median,
        "look_seconds_median": look_median,
        "http_span_seconds_median": statistics.median(http_spans) if http_spans else None,
        "wall_over_bare": statistics.median(walls) / bare_median,
        "http_span_over_bare": (statistics.median(http_spans) / bare_median) if http_spans else None,
        "look_over_bare": (statistics.median(looks) / bare_median) if looks else None,
        "failed_checks_total": failures,
        "flaky_checks": flaky,
        "outcomes": {check: sorted(outcomes) for check, outcomes in sorted(seen.items())},
        "goals": {
            "wall_max_le_1_5s": max(walls) <= WALL_GOAL_SECONDS,
            "wall_le_1_3x_bare": statistics.median(walls) <= RATIO_GOAL * bare_median,
            "look_le_1_3x_bare": bool(looks) and statistics.median(looks) <= RATIO_GOAL * bare_median,
            "http_span_le_1_3x_bare": bool(http_spans)
            and statistics.median(http_spans) <= RATIO_GOAL * bare_median,
            "wall_le_3x_by_hand": wall_ratio <= BY_HAND_RATIO_GOAL,
            "cpu_le_3x_by_hand": cpu_ratio <= BY_HAND_RATIO_GOAL,
            "by_hand_all_answered": not hand_failed,
            "no_failures": failures == 0,
            "no_flaky": not flaky,
        },
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "outcomes"}, indent=2))
    return 0 if all(summary["goals"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
