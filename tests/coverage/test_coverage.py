"""Runbook -> suite: every step and command of the runbook maps to what proves it, and an edit of
the runbook that the suite does not follow fails here with the section and line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from helpers.runbook_copies import RUNBOOK_TEXT, edited
from offgridflow_runbook.cli import EXIT_USAGE, main
from offgridflow_runbook.coverage import CoverageError, Project, coverage, proofs
from offgridflow_runbook.coverage.proofs import Experiment, Role
from offgridflow_runbook.project import HOME_ENV, project_root
from offgridflow_runbook.proofs import PROOFS_ENV
from offgridflow_runbook.runbook import Runbook, load_runbook

MakeCopy = Callable[[str, str], Runbook]


def test_the_projects_runbook_has_no_step_or_command_that_nothing_maps_to() -> None:
    report = coverage(load_runbook())
    assert report.drift == ()


def test_every_gap_in_the_projects_runbook_is_listed_with_its_reason() -> None:
    report = coverage(load_runbook())
    gaps = {(item.step, item.text): item.proofs for item in report.items if not item.covered}
    assert all(reasons and all(reasons) for reasons in gaps.values()), gaps
    # the gaps the suite knows of; a new one (a check deleted, an experiment dropping a fix) fails here
    assert sorted(gaps) == [
        ("Fix 1", "kubectl get secret offgridflow-secrets -n offgridflow -o yaml"),
        ("Fix 3", "kubectl get configmap offgridflow-config -n offgridflow -o yaml"),
        ("Fix 3", "kubectl rollout history deployment/offgridflow-api -n offgridflow"),
        ("Fix 4", "docker pull ghcr.io/your-org/offgridflow-api:latest"),
        ("Triage 1", "kubectl logs -n offgridflow -l app=offgridflow-api --tail=100"),
        ("Triage 2B", "kubectl logs -n offgridflow statefulset/postgres --tail=50"),
    ]
    assert any(
        "registry credentials" in reason
        for reason in gaps[("Fix 4", "docker pull ghcr.io/your-org/offgridflow-api:latest")]
    )


def test_every_step_of_the_projects_runbook_is_proved() -> None:
    report = coverage(load_runbook())
    steps = [item for item in report.items if item.kind == "step"]
    assert len(steps) == len(load_runbook().steps)
    assert all(item.covered for item in steps), [i for i in steps if not i.covered]


def test_the_percentage_is_the_share_of_items_proved() -> None:
    report = coverage(load_runbook())
    covered = sum(item.covered for item in report.items)
    assert report.percent == pytest.approx(100 * covered / len(report.items))
    assert 0 < covered < len(report.items)


def test_a_triage_step_added_to_the_runbook_is_drift_with_its_line(runbook_copy: MakeCopy) -> None:
    runbook = runbook_copy(
        "## Resolution Steps",
        "#### E. DNS Resolution\n```bash\n# Check DNS\n"
        "kubectl get pods -n kube-system -l k8s-app=kube-dns\n```\n\n## Resolution Steps",
    )
    assert coverage(runbook).drift == (
        "runbook.md:84: Triage 2E: step `DNS Resolution`: nothing in the suite maps to it",
        "runbook.md:87: Triage 2E: command `kubectl get pods -n kube-system -l k8s-app=kube-dns`: "
        "nothing in the suite maps to it",
    )


def test_a_renamed_service_is_drift_both_ways(runbook_copy: MakeCopy) -> None:
    runbook = runbook_copy(
        "kubectl get endpoints -n offgridflow offgridflow-api-service",
        "kubectl get endpoints -n offgridflow offgridflow-api-svc",
    )
    drift = coverage(runbook).drift
    assert drift[0] == (
        "runbook.md:81: Triage 2D: command `kubectl get endpoints -n offgridflow offgridflow-api-svc`: "
        "nothing in the suite maps to it"
    )
    assert drift[1].startswith(
        "runbook.md: Triage 2D: the suite proves "
        "`kubectl get endpoints -n offgridflow offgridflow-api-service` (test_traffic_reaches_the_api) "
        "but the runbook's Triage 2D has no such command"
    )
    assert len(drift) == 2


def test_a_removed_fix_command_leaves_its_proof_stale(runbook_copy: MakeCopy) -> None:
    runbook = runbook_copy(
        "# Rollback to previous version if needed\n"
        "kubectl rollout undo deployment/offgridflow-api -n offgridflow\n",
        "",
    )
    assert coverage(runbook).drift == (
        "runbook.md: Fix 3: the suite proves "
        "`kubectl rollout undo deployment/offgridflow-api -n offgridflow` (fix_3_rollout_undo) "
        "but the runbook's Fix 3 has no such command",
    )


def test_fix_2_patching_cpu_limits_too_is_a_patch_no_fix_action_applies(runbook_copy: MakeCopy) -> None:
    runbook = runbook_copy('"limits": {"memory": "2Gi"}', '"limits": {"memory": "2Gi", "cpu": "2"}')
    drift = coverage(runbook).drift
    assert drift[0].startswith("runbook.md:124: Fix 2: command `kubectl patch deployment offgridflow-api")
    assert '"cpu": "2"' in drift[0]
    assert (
        "Fix 2: the suite proves `kubectl patch deployment offgridflow-api -n offgridflow -p <memory"
        in drift[1]
    )


def test_a_new_known_good_tag_in_fix_4_no_longer_matches_the_experiment(runbook_copy: MakeCopy) -> None:
    runbook = runbook_copy("offgridflow-api:v1.2.3", "offgridflow-api:v1.2.4")
    assert [line.split(":", 2)[1] for line in coverage(runbook).drift] == ["171", " Fix 4"]


def test_a_proof_the_project_lost_makes_the_step_not_covered(tmp_path: Path) -> None:
    for part in ("chaos/experiments", "deploy/prometheus/rules"):
        shutil.copytree(project_root() / part, tmp_path / part)
    (tmp_path / "checks").mkdir()
    source = (project_root() / "checks/test_triage.py").read_text()
    (tmp_path / "checks/test_triage.py").write_text(source.replace('"Triage 2D"', '"Triage 2X"'))
    (tmp_path / "checks/test_verification.py").write_text(
        (project_root() / "checks/test_verification.py").read_text()
    )
    experiment = json.loads((tmp_path / "chaos/experiments/oom.json").read_text())
    for activity in experiment["method"]:
        if activity["provider"]["func"] == "fix_2_patch_memory":
            activity["provider"]["arguments"]["limit"] = "1Gi"
    (tmp_path / "chaos/experiments/oom.json").write_text(json.dumps(experiment))

    items = {(i.step, i.text): i for i in coverage(load_runbook(), Project(tmp_path)).items}
    ingress = items[("Triage 2D", "kubectl get ingress -n offgridflow")]
    assert (ingress.status, ingress.proofs) == (
        "not covered",
        ("check checks/test_triage.py::test_traffic_reaches_the_api is marked 'Triage 2X', not 'Triage 2D'",),
    )
    patch = next(i for (step, text), i in items.items() if step == "Fix 2" and "patch" in text)
    assert patch.status == "not covered"
    assert (
        "calls fix_2_patch_memory with other values (limit: runbook '2Gi', experiment '1Gi')"
        in patch.proofs[0]
    )


# -- the command ---------------------------------------------------------------------------------------
def test_coverage_prints_the_table_and_the_percentage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["coverage"]) == 0
    out = capsys.readouterr().out
    report = coverage(load_runbook())
    assert out.splitlines()[-1] == report.summary()
    assert "171   Fix 4" in out
    assert "experiment bad-image fix fix_4_set_known_good_image" in out


def test_coverage_below_the_bar_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    percent = coverage(load_runbook()).percent
    assert main(["coverage", "--min-coverage", f"{percent:.2f}"]) == 0
    assert main(["coverage", "--min-coverage", f"{percent + 0.1:.2f}"]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == f"below the required {percent + 0.1:.2f}%"


def test_coverage_of_another_copy_with_drift_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "runbook.md"
    copy.write_text(
        edited(
            "deployment/offgridflow-api -n offgridflow\n\n# Watch rollout\n",
            "deployment/offgridflow-backend -n offgridflow\n\n# Watch rollout\n",
        )
    )
    assert main(["coverage", "--runbook", str(copy), "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["drift"][0].startswith(
        "runbook.md:155: Fix 3: command `kubectl rollout undo deployment/offgridflow-backend"
    )
    unmapped = [(i["line"], i["step"]) for i in body["not_covered"] if i["status"] == "unmapped"]
    assert unmapped == [(155, "Fix 3")]


def test_an_unreadable_runbook_is_one_line_and_exit_64(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "runbook.md"
    copy.write_text(RUNBOOK_TEXT.replace("**Alert Name**", "**Alert**"))
    assert main(["coverage", "--runbook", str(copy)]) == EXIT_USAGE
    assert (
        capsys.readouterr().err
        == f"offgridflow-runbook: error: {copy}:1: no '**Alert Name**: `AlertName`' line\n"
    )


def test_a_bar_above_100_is_a_user_mistake(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["coverage", "--min-coverage", "101"])
    assert raised.value.code == EXIT_USAGE
    assert "argument --min-coverage: a percentage 0..100, not '101'" in capsys.readouterr().err


def test_a_triage_rule_proves_a_step_only_when_the_decision_table_sends_that_cause_there() -> None:
    from offgridflow_runbook.coverage import TriageRule
    from offgridflow_runbook.runbook.triage import Cause

    assert TriageRule(Cause.OOM, "Fix 2").resolve(Project(), "Fix 2") == (True, "triage rule oom -> Fix 2")
    assert TriageRule(Cause.OOM, "Fix 4").resolve(Project(), "Fix 4") == (
        False,
        "triage has no rule sending oom to Fix 4",
    )


@pytest.mark.parametrize(("wanted", "proved"), [("2Gi", True), ("4Gi", False)])
def test_an_argument_the_experiment_leaves_out_is_the_activitys_default(
    tmp_path: Path, wanted: str, proved: bool
) -> None:
    (tmp_path / "chaos" / "experiments").mkdir(parents=True)
    provider = {"type": "python", "module": "offgridflow_runbook.chaos.fixes", "func": "fix_2_patch_memory"}
    experiment = {
        "title": "oom",
        "extensions": [{"name": "offgridflow-gameday", "mode": "oom", "fix": "Fix 2"}],
        "method": [{"provider": provider}],
    }
    (tmp_path / "chaos" / "experiments" / "oom.json").write_text(json.dumps(experiment))
    ok, why = Experiment("oom", Role.FIX, "fix_2_patch_memory", {"limit": wanted}).resolve(
        Project(tmp_path), "Fix 2"
    )
    assert ok is proved, why  # fix_2_patch_memory's limit defaults to 2Gi


def test_the_coverage_line_of_a_check_run_does_not_load_the_chaos_package() -> None:
    code = (
        "import sys\nfrom offgridflow_runbook.coverage import runbook_coverage\n"
        "print(runbook_coverage().summary().startswith('runbook coverage: '),"
        " 'offgridflow_runbook.chaos' in sys.modules, 'chaoslib' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["True", "False", "False"]


# -- a project or proofs file that cannot be read ------------------------------------------------------
PROJECT_PARTS = ("docs/runbooks", "checks", "chaos/experiments", "deploy/prometheus/rules")
RULES = "deploy/prometheus/rules/offgridflow.rules.yml"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the project's files coverage reads, as $OFFGRIDFLOW_HOME, and no proofs yet."""
    root = tmp_path / "home"
    for part in PROJECT_PARTS:
        shutil.copytree(project_root() / part, root / part, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setenv(HOME_ENV, str(root))
    monkeypatch.delenv("OFFGRIDFLOW_RUNBOOK", raising=False)
    monkeypatch.setenv(PROOFS_ENV, str(tmp_path / "proofs.jsonl"))
    return root


def coverage_usage_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``coverage``; assert exit 64 and one line on stderr; return the line."""
    assert main(["coverage", *argv]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.endswith("\n")
    return err.rstrip("\n")


def test_the_copied_project_is_covered_as_the_project_is(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["coverage"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == coverage(load_runbook()).summary()


@pytest.mark.parametrize(
    ("part", "problem"),
    [
        (RULES, f"alert rules file {{home}}/{RULES} not found (is $OFFGRIDFLOW_HOME the project's root?)"),
        ("checks", "no checks directory at {home}/checks (is $OFFGRIDFLOW_HOME the project's root?)"),
        (
            "chaos/experiments",
            "no experiments directory at {home}/chaos/experiments (is $OFFGRIDFLOW_HOME the project's root?)",
        ),
    ],
)
def test_a_partial_project_home_is_one_line_naming_what_is_missing(
    home: Path, part: str, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if (home / part).is_dir():
        shutil.rmtree(home / part)
    else:
        (home / part).unlink()
    expected = problem.format(home=home.resolve())
    assert coverage_usage_line([], capsys) == f"offgridflow-runbook: error: {expected}"


@pytest.mark.parametrize(
    ("path", "text", "problem"),
    [
        (
            "chaos/experiments/oom.json",
            '{"title": ',
            "not an offgridflow game-day experiment (Expecting value",
        ),
        ("chaos/experiments/oom.json", "[]", "not an offgridflow game-day experiment ('list' object"),
        (
            "chaos/experiments/zz.json",
            '{"title": "stray"}',
            "game-day experiment (experiment 'stray' has no 'offgridflow-gameday' extension)",
        ),
        ("chaos/experiments/oom.json", b"\xff", "is not UTF-8 text (byte 0: invalid start byte)"),
        (RULES, "groups: [", "is not YAML: line 1: expected the node content, but found '<stream end>'"),
        (RULES, "groups: 5", "is not Prometheus rules: 'int' object is not iterable"),
        ("checks/test_zz.py", "def (", "is not Python: invalid syntax"),
        ("checks/test_zz.py", "x = 1\0", "is not Python: source code string cannot contain null bytes"),
    ],
)
def test_a_project_file_that_cannot_be_read_is_one_line_naming_it(
    home: Path, path: str, text: str | bytes, problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    file = home / path
    file.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(CoverageError, match="^.*" + str(file.resolve()).replace(".", r"\.")) as raised:
        coverage(load_runbook(), Project(home.resolve()))
    assert problem in str(raised.value)
    assert coverage_usage_line([], capsys) == f"offgridflow-runbook: error: {raised.value}"


def test_the_rules_file_reads_the_same_with_libyaml_as_in_pure_python() -> None:
    text = (project_root() / RULES).read_text(encoding="utf-8")
    document = proofs._yaml(text)
    assert document == yaml.safe_load(text)
    assert any("alert" in rule for group in document["groups"] for rule in group["rules"])


def test_a_project_file_that_never_ends_is_refused_before_it_is_read(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = home / RULES
    rules.unlink()
    os.mkfifo(rules)  # read, it would wait for a writer forever
    assert coverage_usage_line([], capsys) == (
        f"offgridflow-runbook: error: alert rules file {rules.resolve()} cannot be read: "
        "not a regular file (a device, pipe or socket)"
    )


@pytest.mark.parametrize("kind", ["directory", "binary"])
def test_a_proofs_file_that_cannot_be_read_is_one_line_and_exit_64(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    proofs = tmp_path / "proofs.jsonl"
    if kind == "directory":
        proofs.mkdir()
    else:
        proofs.write_bytes(b"\x89PNG\r\n")
    monkeypatch.setenv(PROOFS_ENV, str(proofs))
    for argv in ([], ["--json"]):
        assert coverage_usage_line(argv, capsys).startswith(
            f"offgridflow-runbook: error: proofs file {proofs} is "
        )


def test_a_proof_dated_out_of_range_is_skipped_in_the_table_and_the_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    proofs = tmp_path / "proofs.jsonl"
    fields = '"target": "t", "platform": "docker", "kind": "automatic", "mode": "oom", "steps": ["Triage 1"]'
    proofs.write_text("".join(f'{{"at": {at}, {fields}}}\n' for at in ("1e300", "-1e300", "1e400", '"nan"')))
    monkeypatch.setenv(PROOFS_ENV, str(proofs))
    assert main(["coverage"]) == 0
    assert "Triage 1         never proven by a game day  STALE" in capsys.readouterr().out
    assert main(["coverage", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert next(row for row in body["proofs"] if row["step"] == "Triage 1")["last_proven"] is None
