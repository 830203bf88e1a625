"""The GitHub workflows: schema-valid, least privilege, no secret in a shell line, current actions."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from helpers.deploy_files import REPO_ROOT, WORKFLOWS, load_yaml
from offgridflow_runbook.cli import build_parser

ACTION_VERSIONS = {
    "actions/checkout": "v4",
    "actions/setup-python": "v5",
    "actions/upload-artifact": "v4",
    "helm/kind-action": "v1",
}
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
EXPECTED = {"pre-deploy-gate.yml", "synthetic-checks.yml", "gameday.yml"}


def workflow(name: str) -> dict[str, Any]:
    # YAML 1.1 reads the key `on` as True.
    raw: dict[Any, Any] = load_yaml(WORKFLOWS / name)
    return {"on" if key is True else str(key): value for key, value in raw.items()}


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def run_lines(document: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(document))


def test_the_three_workflows_exist() -> None:
    assert {path.name for path in WORKFLOW_FILES} == EXPECTED


def actionlint() -> str:
    """actionlint as tools/lint/build-actionlint.sh builds it (make lint), else from PATH."""
    built = Path(os.environ.get("OFFGRIDFLOW_CLUSTER_CACHE", "/var/cache/offgridflow-cluster")) / "bin"
    path = built / "actionlint" if (built / "actionlint").is_file() else shutil.which("actionlint")
    if path is None:
        pytest.skip("actionlint is not built: run `bash tools/lint/build-actionlint.sh` (make lint does)")
    return str(path)


def lint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_actionlint_is_the_pinned_version() -> None:
    pinned = re.search(
        r'^version="(v[\d.]+)"$', (REPO_ROOT / "tools" / "lint" / "build-actionlint.sh").read_text(), re.M
    )
    assert pinned is not None
    result = subprocess.run(
        [actionlint(), "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.stdout.splitlines()[0] == pinned.group(1)


def test_actionlint_finds_nothing_in_any_workflow() -> None:
    """Syntax, the workflow schema, expressions and their types, action inputs, runner labels, cron,
    untrusted input in scripts (and shellcheck on each run: when shellcheck is installed)."""
    assert WORKFLOW_FILES
    result = lint(*WORKFLOW_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("broken", "finding"),
    [
        ("name: broken\non: push\njobs:\n  job:\n    steps:\n      - run: true\n", "runs-on"),
        (
            "on: push\njobs:\n  job:\n    runs-on: ubuntu-24.04\n    steps:\n"
            "      - run: echo ${{ github.event.issue.title }}\n",
            "untrusted",
        ),
        (
            "on:\n  schedule:\n    - cron: '0 6 * * 8'\njobs:\n  job:\n    runs-on: ubuntu-24.04\n"
            "    steps:\n      - run: true\n",
            "invalid CRON",
        ),
        (
            "on: push\njobs:\n  job:\n    runs-on: ubuntu-24.04\n    steps:\n"
            "      - uses: actions/checkout@v4\n        with:\n          fetch-deep: 0\n",
            'input "fetch-deep" is not defined',
        ),
    ],
    ids=["a job without runs-on", "untrusted input in a script", "a bad cron", "a misspelt action input"],
)
def test_actionlint_rejects_a_broken_workflow(broken: str, finding: str, tmp_path: Path) -> None:
    path = tmp_path / ".github" / "workflows" / "broken.yml"
    path.parent.mkdir(parents=True)
    path.write_text(broken, encoding="utf-8")
    result = lint(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert finding in result.stdout


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_job_has_explicit_read_only_or_narrow_permissions(name: str) -> None:
    document = workflow(name)
    assert document.get("permissions") == {"contents": "read"}
    for job_name, job in document["jobs"].items():
        granted = job.get("permissions", document["permissions"])
        writes = {scope for scope, level in granted.items() if level == "write"}
        assert writes <= {"issues"}, f"{job_name} asks for {writes}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_no_secret_is_expanded_in_a_shell_line(name: str) -> None:
    """Secrets reach scripts through `env:` only (actionlint checks untrusted input, not this)."""
    assert "secrets." not in run_lines(workflow(name))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_actions_are_the_chosen_current_versions(name: str) -> None:
    for step in steps(workflow(name)):
        if "uses" in step:
            action, _, version = step["uses"].partition("@")
            assert ACTION_VERSIONS.get(action) == version, step["uses"]


def test_the_gate_is_one_call_of_the_gate_command_on_kind() -> None:
    document = workflow("pre-deploy-gate.yml")
    assert {"pull_request", "push"} <= set(document["on"])
    (gate,) = [step for step in steps(document) if "offgridflow-runbook gate" in step.get("run", "")]
    assert "if" not in gate  # its exit code is the job's verdict
    # the command's own parser takes the line as written (the candidate from the job's environment)
    candidate = document["env"]["CANDIDATE_IMAGE"].replace("${{ github.sha }}", "0123abcd" * 5)
    argv = shlex.split(gate["run"].replace('"$CANDIDATE_IMAGE"', candidate))
    assert argv[:2] == [".venv/bin/offgridflow-runbook", "gate"]
    args = build_parser().parse_args(argv[1:])
    assert (args.target, args.image) == ("kind", candidate)
    # no deploy, check or rollback logic of its own is left in shell
    shell = run_lines(document)
    for logic in (
        "set image",
        "rollout undo",
        "rollout status",
        "pytest checks",
        "offgridflow-runbook drift",
    ):
        assert logic not in shell


def test_the_gate_fails_below_the_runbook_coverage_bar() -> None:
    document = workflow("pre-deploy-gate.yml")
    assert re.search(r"offgridflow-runbook coverage --min-coverage \d+", run_lines(document))


def test_synthetic_checks_run_every_15_minutes_against_production_and_report_failures() -> None:
    document = workflow("synthetic-checks.yml")
    assert document["on"]["schedule"] == [{"cron": "*/15 * * * *"}]
    assert "workflow_dispatch" in document["on"]
    assert re.search(r"offgridflow-runbook monitor --once --target production\b", run_lines(document))
    issue_steps = [step for step in steps(document) if "gh issue" in step.get("run", "")]
    assert issue_steps
    assert all(step["if"] == "failure()" for step in issue_steps)
    uploads = [step for step in steps(document) if step.get("uses", "").startswith("actions/upload-artifact")]
    assert uploads
    assert uploads[0]["if"] == "always()"


def test_the_game_day_runs_the_chaos_suite_on_kind_quarterly_and_keeps_the_scorecard() -> None:
    document = workflow("gameday.yml")
    assert document["on"]["schedule"] == [{"cron": "0 6 1 1,4,7,10 *"}]
    assert "pytest chaos --target kind" in run_lines(document)
    assert any(step.get("uses", "").startswith("actions/upload-artifact") for step in steps(document))


def test_the_make_targets_the_workflows_call_exist() -> None:
    called = {
        target for name in EXPECTED for target in re.findall(r"\bmake ([\w-]+)", run_lines(workflow(name)))
    }
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    defined = set(re.findall(r"^([\w-]+):", makefile, flags=re.MULTILINE))
    assert called, "the workflows call no make target"
    assert called <= defined, f"missing in the Makefile: {sorted(called - defined)}"
