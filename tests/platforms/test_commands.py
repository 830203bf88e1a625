"""The runbook's commands as each platform carries them out (platforms.runbook_commands): Kubernetes
runs them as written, Docker names its equivalents, a target without a platform runs no kubectl; the
judging side asks through that interface and never branches on the platform's name."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from offgridflow_runbook.platforms import RunbookLine, runbook_commands
from offgridflow_runbook.platforms.docker.commands import DOCKER_EQUIVALENTS
from offgridflow_runbook.runbook import load_runbook
from offgridflow_runbook.runbook.commands import known_good_tag, platform_equivalent, render_command
from offgridflow_runbook.targets import Target

SRC = Path(__file__).parents[2] / "src" / "offgridflow_runbook"
# the judging side: every module of runbook/ asks the platform, never its name
PLATFORM_NEUTRAL = tuple(sorted(str(p.relative_to(SRC)) for p in (SRC / "runbook").glob("*.py")))
KIND = Target(name="k", platform="kubernetes", base_url="http://127.0.0.1:18080", namespace="shop")
LOCAL = Target(
    name="l", platform="docker", base_url="http://127.0.0.1:8080", metrics_url="http://127.0.0.1:8081/metrics"
)
HTTP_ONLY = Target(name="h", platform="none", base_url="http://127.0.0.1:9")


def line(step: str, text: str) -> RunbookLine:
    def never() -> str:
        raise AssertionError("the good image was read for a line that does not name it")

    return RunbookLine(step, text, f"{text} (rendered)", "http://b", "http://m/metrics", "img:1", never)


@pytest.mark.parametrize(("platform", "runs"), [("kubernetes", True), ("docker", False), ("none", False)])
def test_each_platform_says_whether_the_runbooks_kubectl_runs_there(platform: str, runs: bool) -> None:
    assert runbook_commands(platform).runs_kubectl is runs


def test_kubernetes_and_a_target_without_a_platform_carry_out_every_line_as_written() -> None:
    for platform in ("kubernetes", "none"):
        for command in load_runbook().commands:
            given = line(command.step, command.text)
            assert runbook_commands(platform).instead(given) == given.rendered
    for target in (KIND, HTTP_ONLY):
        assert all(platform_equivalent(c, target) is None for c in load_runbook().commands)
        assert all("    # on " not in render_command(c, target) for c in load_runbook().commands)


@pytest.mark.parametrize(
    ("platform", "ingress", "from_api", "no_instance"),
    [
        ("kubernetes", True, True, None),
        ("none", True, True, None),
        ("docker", False, False, "no offgridflow-api container (is the local stack up? make up)"),
    ],
)
def test_each_platform_says_what_its_path_to_the_api_is(
    platform: str, ingress: bool, from_api: bool, no_instance: str | None
) -> None:
    """The facts triage reads the runbook's 2B/2D steps with: an Ingress on the path, pg_isready run
    beside the API, a reason for no API instance better than the rollout's."""
    commands = runbook_commands(platform)
    assert (commands.has_ingress, commands.pg_isready_from_api, commands.no_api_instance) == (
        ingress,
        from_api,
        no_instance,
    )


def test_docker_names_its_equivalent_by_step_and_the_commands_start() -> None:
    docker = runbook_commands("docker")
    assert docker.instead(line("Triage 1", "kubectl logs statefulset/postgres --tail=50")) == (
        "docker logs --tail 50 postgres"
    )
    # a step's own entry comes before the one for every step
    assert docker.instead(line("Triage 2C", "kubectl describe pod x")).startswith("docker inspect -f")
    assert docker.instead(line("Triage 1", "kubectl describe pod x")) == "docker inspect offgridflow-api"
    # the Service's selector and what it selects, then whether the published ports answer
    assert docker.instead(line("Triage 1", "kubectl get endpoints")).endswith(
        "curl -sf http://b/health/live; curl -sf http://m/metrics (the published ports)"
    )
    assert "api-service.json" in docker.instead(line("Triage 1", "kubectl get endpoints"))
    unknown = line("Triage 1", "kubectl auth can-i get pods")
    assert docker.instead(unknown) == unknown.rendered


def test_every_docker_equivalent_is_reached_by_a_line_of_the_runbook() -> None:
    """An entry no runbook line reaches is dead: a renamed command would lose its equivalent quietly."""
    image = "127.0.0.1:5000/offgridflow-api:v9"
    reached = {platform_equivalent(c, LOCAL, image=image) for c in load_runbook().commands}
    values = {
        "base_url": LOCAL.base_url,
        "metrics_url": LOCAL.metrics_url,
        "image": image,
        "good_image": f"127.0.0.1:5000/offgridflow-api:{known_good_tag()}",
    }
    unreached = [
        (step, start)
        for step, start, instead in DOCKER_EQUIVALENTS
        if instead.format(**values) not in reached
    ]
    assert unreached == []


def _name_branches(source: str) -> list[int]:
    """Lines comparing ``<something>.platform`` with a string (``target.platform == "docker"``)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            named = any(isinstance(s, ast.Attribute) and s.attr == "platform" for s in sides)
            literal = any(isinstance(s, ast.Constant | ast.Tuple | ast.Set | ast.List) for s in sides)
            if named and literal:
                found.append(node.lineno)
    return found


def test_the_scan_finds_a_branch_on_the_platforms_name() -> None:
    sample = 'if target.platform == "docker":\n    pass\nx = t.platform in ("a", "b")\ny = t.platform\n'
    assert _name_branches(sample) == [1, 3]


def test_the_judging_side_never_branches_on_the_platforms_name() -> None:
    branches = [
        f"{name}:{lineno}"
        for name in PLATFORM_NEUTRAL
        for lineno in _name_branches((SRC / name).read_text(encoding="utf-8"))
    ]
    assert branches == []
    # the scan reads files that are there and that still render for a platform
    asking = ("runbook/commands.py", "runbook/drift.py", "runbook/evidence.py", "runbook/steps.py")
    assert set(asking) <= set(PLATFORM_NEUTRAL)
    assert all("target.platform" in (SRC / name).read_text(encoding="utf-8") for name in asking)
