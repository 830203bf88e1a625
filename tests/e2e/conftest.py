"""The local Docker stack for end-to-end tests: brought up once per session under the stack lock.

The stack is torn down at the end unless it was already running before the session, or
``--keep-cluster`` (or ``OFFGRIDFLOW_KEEP_STACK=1``) asks to keep it. Whatever the tests changed in
the API's rollout is put back to the first revision's template, so the stack is left healthy.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import httpx
import pytest
from docker.errors import DockerException

from offgridflow_runbook.environments.local import StackError, down, stack_lock, status, up
from offgridflow_runbook.gameday.alerts import wait_for_quiet
from offgridflow_runbook.platforms.docker import revisions
from offgridflow_runbook.platforms.docker.driver import DockerPlatform
from offgridflow_runbook.platforms.docker.names import API, STACK_LABEL, STACK_VALUE
from offgridflow_runbook.targets import load_target

ROOT = Path(__file__).resolve().parents[2]


def _why_not_runnable() -> str | None:
    if os.geteuid() != 0:
        return "the local Docker stack needs root (run the e2e tests as root)"
    if shutil.which("dockerd") is None:
        return "Docker is not installed (apt-get install docker.io)"
    try:
        client = docker.from_env(timeout=5)
        client.ping()
        client.close()
    except DockerException as error:
        return f"the Docker Engine does not answer ({error.__class__.__name__}); start dockerd or run make up"
    return None


def _keep(config: pytest.Config) -> bool:
    try:
        keep = bool(config.getoption("--keep-cluster"))
    except ValueError:
        keep = False
    return keep or os.environ.get("OFFGRIDFLOW_KEEP_STACK") == "1"


def restore_first_revision(platform: DockerPlatform) -> None:
    """Roll the API out with the first revision's template again (image, limits, configuration)."""
    from offgridflow_runbook.platforms.docker import rollout

    first = revisions.initial_rollout().latest
    client = docker.from_env()
    try:
        rollout.change(
            client,
            "restored by the e2e tests",
            image=first.image,
            memory_limit=first.memory_limit,
            memory_request=first.memory_request,
            config=first.config,
        )
    finally:
        client.close()
    platform.wait_rollout(timeout=60)


@pytest.fixture(scope="session")
def local_stack(request: pytest.FixtureRequest) -> Iterator[DockerPlatform]:
    """The running local stack and a docker platform connected to it."""
    reason = _why_not_runnable()
    if reason:
        pytest.skip(reason)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(stack_lock())
            was_running = any(row.name == API and row.state == "running" for row in status())
            up("fast", say=lambda _line: None)
        except StackError as error:
            pytest.fail(f"the local stack could not be brought up: {error}", pytrace=False)
        platform = DockerPlatform(load_target("local", Path(__file__).parents[2] / "targets.yaml"))
        try:
            yield platform
        finally:
            restore_first_revision(platform)
            platform.close()
            if not was_running and not _keep(request.config):
                down(say=lambda _line: None)
                client = docker.from_env()
                try:
                    left = client.containers.list(all=True, filters={"label": f"{STACK_LABEL}={STACK_VALUE}"})
                finally:
                    client.close()
                assert not left, f"containers left after teardown: {[c.name for c in left]}"


@pytest.fixture(scope="session")
def engine() -> Iterator[docker.DockerClient]:
    """An independent Docker client: what the tests observe with, apart from the driver under test."""
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def token(local_stack: DockerPlatform) -> str:
    return revisions.api_token()


@pytest.fixture
def healthy_api(local_stack: DockerPlatform) -> Iterator[DockerPlatform]:
    """The platform with the API on the first revision's template and ready; put back after the test.

    Other users of the stack (a game day) may have left another template (e.g. Fix 2's 2Gi) behind.
    """
    restore_first_revision(local_stack)
    wait_until("the API is ready", _ready, 90)
    yield local_stack
    restore_first_revision(local_stack)
    wait_until("the API is ready again", _ready, 90)


# what a fault test can take for PodCrashLooping (its own minute of readiness) and the rest to resolve
QUIET_WITHIN_S = 240
LOCAL_PROMETHEUS = "http://127.0.0.1:9090"


@pytest.fixture(scope="session")
def quiet_wait_log(pytestconfig: pytest.Config) -> Iterator[Callable[[str, float, list[str]], None]]:
    """Where ``quiet_api`` notes each wait: ``<junit report>.quiet-waits.jsonl`` beside the JUnit
    report of the run (``reports/tiers/docker.quiet-waits.jsonl`` in make test; made anew per run),
    read by benchmarks/bench_test_tiers.py. Without a JUnit report nothing is written."""
    xmlpath = getattr(pytestconfig.option, "xmlpath", None)
    if not xmlpath:
        yield lambda _node, _seconds, _alerts: None
        return
    path = Path(xmlpath).with_suffix(".quiet-waits.jsonl")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as log:

        def note(node: str, seconds: float, alerts: list[str]) -> None:
            log.write(
                json.dumps({"test": node, "quiet_wait_s": round(seconds, 1), "waited_for": alerts}) + "\n"
            )
            log.flush()

        yield note


@pytest.fixture
def quiet_api(
    healthy_api: DockerPlatform,
    request: pytest.FixtureRequest,
    quiet_wait_log: Callable[[str, float, list[str]], None],
) -> DockerPlatform:
    """``healthy_api`` once none of the runbook's alerts is pending or firing: a test that judges
    Verification 5 or a page starts from a quiet stack, never from what an earlier test's fault left
    firing or about to fire (a crash-loop alert still pending fires in the middle of the next test).
    How long that took and what it waited for are noted (``quiet_wait_log``): where the tier's time goes."""
    waiting = time.monotonic()
    seen: set[str] = set()
    still = wait_for_quiet(LOCAL_PROMETHEUS, deadline=QUIET_WITHIN_S, say=lambda _line: None, seen=seen)
    quiet_wait_log(request.node.nodeid, time.monotonic() - waiting, sorted(seen))
    if still:
        pytest.fail(f"the local stack did not turn quiet within {QUIET_WITHIN_S:.0f} s: {', '.join(still)}")
    return healthy_api


def _ready() -> bool:
    try:
        return httpx.get("http://127.0.0.1:8080/health/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(what: str, condition: Callable[[], bool], timeout: float, interval: float = 0.5) -> None:
    """Poll ``condition`` until it is true; fail with ``what`` when ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting until {what}")
        time.sleep(interval)


def run_checks(
    token: str, *options: str, interpreter: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``pytest checks --target local -q`` with ``options``, as a user runs it from the project's root,
    with the stack's token; ``interpreter``: options of Python itself (``-X importtime``)."""
    return subprocess.run(
        [sys.executable, *interpreter, "-m", "pytest", "checks", "--target", "local", "-q", *options],
        cwd=ROOT,
        env={**os.environ, "OFFGRIDFLOW_TOKEN": token},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
