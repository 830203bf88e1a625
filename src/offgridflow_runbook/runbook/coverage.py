"""Which part of the suite proves each runbook step, and which steps nothing proves.

:data:`STEPS` and :data:`COMMANDS` are the map: per runbook step, and per command line of each
step (matched by its text, whitespace collapsed), the proofs — a check in ``checks/`` (by function
name and runbook step), a triage rule (a :class:`~offgridflow_runbook.runbook.triage.Cause`), an
experiment's fault, detection probe or fix (by mode and Chaos Toolkit function, with the arguments
the runbook's command implies), an alert rule — or a reason why it is not covered.
:func:`coverage` resolves every proof against the project (a check that was deleted, an experiment
that no longer calls the fix, proves nothing) and reports both ways:

- ``unmapped``: a step or command of the runbook that no entry matches (a step was added, a name
  changed): drift of the runbook away from the suite;
- ``stale``: an entry that matches nothing in the runbook (a command was removed or changed): the
  suite proves something the runbook no longer says.
"""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from offgridflow_runbook.runbook.document import PROJECT_ROOT, Command, Runbook
from offgridflow_runbook.runbook.triage import Cause

__all__ = [
    "COMMANDS",
    "STEPS",
    "Alert",
    "Check",
    "CommandRule",
    "CoverageItem",
    "CoverageReport",
    "Experiment",
    "NotCovered",
    "Project",
    "Proof",
    "StepRule",
    "TriageRule",
    "coverage",
]


# -- the project the proofs live in --------------------------------------------------------------------
@dataclass(frozen=True)
class Project:
    """Where the checks, experiments and alert rules are (the repository root by default)."""

    root: Path = PROJECT_ROOT

    @property
    def checks_dir(self) -> Path:
        return self.root / "checks"

    @property
    def experiments_dir(self) -> Path:
        return self.root / "chaos" / "experiments"

    @property
    def alert_rules(self) -> Path:
        return self.root / "deploy" / "prometheus" / "rules" / "offgridflow.rules.yml"


@cache
def _checks(checks_dir: Path) -> dict[str, tuple[str, str]]:
    """check function name -> (its runbook_step marker, ``checks/file.py::name``)."""
    found: dict[str, tuple[str, str]] = {}
    for path in sorted(checks_dir.glob("test_*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and ast.unparse(decorator.func).endswith("mark.runbook_step")
                    and decorator.args
                    and isinstance(decorator.args[0], ast.Constant)
                ):
                    found[node.name] = (str(decorator.args[0].value), f"checks/{path.name}::{node.name}")
    return found


@cache
def _experiments(experiments_dir: Path) -> dict[str, dict[str, Any]]:
    """mode -> the experiment document."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(experiments_dir.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for extension in document.get("extensions", []):
            if extension.get("name") == "offgridflow-gameday":
                found[str(extension["mode"])] = {**document, "_file": path.name}
    return found


@cache
def _alert_names(rules: Path) -> frozenset[str]:
    document = yaml.safe_load(rules.read_text(encoding="utf-8")) or {}
    return frozenset(
        str(rule["alert"])
        for group in document.get("groups", [])
        for rule in group.get("rules", [])
        if "alert" in rule
    )


# -- proofs --------------------------------------------------------------------------------------------
class Proof:
    """Something in the suite that proves a runbook step; :meth:`resolve` says where, or why not."""

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        raise NotImplementedError


@dataclass(frozen=True)
class Check(Proof):
    """A pytest check in ``checks/`` marked with the step."""

    name: str
    step: str | None = None  # the marker it must carry (default: the step being proved)

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        found = _checks(project.checks_dir).get(self.name)
        wanted = self.step or step
        if found is None:
            return False, f"check {self.name} not found in {project.checks_dir}"
        if found[0] != wanted:
            return False, f"check {found[1]} is marked {found[0]!r}, not {wanted!r}"
        return True, f"check {found[1]}"


@dataclass(frozen=True)
class TriageRule(Proof):
    """A branch of the triage tree (``offgridflow_runbook.runbook.triage``) naming a runbook section."""

    cause: str
    section: str

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        if self.cause not in {str(c) for c in Cause}:
            return False, f"triage has no cause {self.cause!r}"
        return True, f"triage rule {self.cause} -> {self.section}"


@dataclass(frozen=True)
class Experiment(Proof):
    """An activity of a chaos experiment: its ``fault``, detection ``probe`` or ``fix``, optionally
    with the argument values the runbook's command implies (compared with the experiment's, or with
    the function's defaults when the experiment leaves them out)."""

    mode: str
    role: str  # "fault", "probe" or "fix"
    func: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def _defaults(self, module: str) -> dict[str, Any]:
        import importlib

        function = getattr(importlib.import_module(module), self.func, None)
        if function is None:
            return {}
        return {
            name: p.default
            for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty
        }

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        document = _experiments(project.experiments_dir).get(self.mode)
        if document is None:
            return False, f"no experiment with mode {self.mode!r} in {project.experiments_dir}"
        activities = [a for a in document.get("method", []) if a.get("provider", {}).get("func") == self.func]
        if not activities:
            return False, f"experiment {document['_file']} does not call {self.func}"
        provider = activities[0]["provider"]
        given = {**self._defaults(provider.get("module", "")), **provider.get("arguments", {})}
        differing = {k: (v, given.get(k)) for k, v in self.arguments.items() if given.get(k) != v}
        if differing:
            what = ", ".join(f"{k}: runbook {v!r}, experiment {g!r}" for k, (v, g) in differing.items())
            return False, f"experiment {document['_file']} calls {self.func} with other values ({what})"
        return True, f"experiment {self.mode} {self.role} {self.func}"


@dataclass(frozen=True)
class Alert(Proof):
    """An alerting rule in ``deploy/prometheus/rules``."""

    name: str

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        if self.name not in _alert_names(project.alert_rules):
            return False, f"no alert {self.name} in {project.alert_rules.name}"
        return True, f"alert rule {self.name}"


@dataclass(frozen=True)
class NotCovered(Proof):
    """Deliberately not proved, and why."""

    reason: str

    def resolve(self, project: Project, step: str) -> tuple[bool, str]:
        return False, self.reason


# -- the map -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StepRule:
    step: str
    proofs: tuple[Proof, ...]


@dataclass(frozen=True)
class CommandRule:
    """A runbook command (``command``: its text, whitespace collapsed; or ``matches``) and its proofs."""

    step: str
    command: str
    proofs: tuple[Proof, ...]
    matches: Callable[[Command], bool] | None = None

    def match(self, command: Command) -> bool:
        if command.step != self.step:
            return False
        return self.matches(command) if self.matches else command.text == " ".join(self.command.split())


def _memory_patch(limit: str, request: str) -> Callable[[Command], bool]:
    """``kubectl patch deployment offgridflow-api -p`` that sets exactly container ``api``'s memory
    limit and request (anything more, e.g. ``limits.cpu``, is a patch no fix action applies)."""

    def matches(command: Command) -> bool:
        argv = command.argv
        if argv[:4] != ("kubectl", "patch", "deployment", "offgridflow-api") or "-p" not in argv:
            return False
        try:
            patch = json.loads(argv[argv.index("-p") + 1])
            containers = patch["spec"]["template"]["spec"]["containers"]
        except (ValueError, KeyError, TypeError, IndexError):
            return False
        wanted = {"name": "api", "resources": {"limits": {"memory": limit}, "requests": {"memory": request}}}
        return bool(containers == [wanted] and set(patch) == {"spec"})

    return matches


_LOGS_SHOWN = "shown, not judged: a failed check attaches these logs to the report (pytest-html extras)"
_FIX_1 = Experiment("db-kill", "fix", "fix_1_restart_database_then_api")
_FIX_2 = Experiment("oom", "fix", "fix_2_patch_memory", {"limit": "2Gi", "request": "1Gi"})
_FIX_3 = Experiment("bad-config", "fix", "fix_3_rollout_undo")
_FIX_4 = Experiment("bad-image", "fix", "fix_4_set_known_good_image")  # the tag: the runbook's own

STEPS: tuple[StepRule, ...] = (
    StepRule("Triage 1", (Check("test_api_answers_health_live"), TriageRule("unreachable", "Triage 1"))),
    StepRule("Triage 2A", (Check("test_api_is_not_crash_looping"), TriageRule("crash_loop", "Quick Fix"))),
    StepRule(
        "Triage 2B",
        (
            Check("test_database_answers_from_the_api_side"),
            TriageRule("database", "Fix 1"),
            Experiment("db-kill", "probe", "wait_for_database_unreachable"),
        ),
    ),
    StepRule(
        "Triage 2C",
        (Check("test_resource_limits_are_set_and_not_exhausted"), TriageRule("resources", "Fix 2")),
    ),
    StepRule("Triage 2D", (Check("test_traffic_reaches_the_api"), TriageRule("network", "Triage 2D"))),
    StepRule("Quick Fix", (TriageRule("crash_loop", "Quick Fix"),)),
    StepRule("Fix 1", (TriageRule("database", "Fix 1"), _FIX_1)),
    StepRule("Fix 2", (TriageRule("oom", "Fix 2"), _FIX_2)),
    StepRule("Fix 3", (TriageRule("config_error", "Fix 3"), _FIX_3)),
    StepRule("Fix 4", (TriageRule("image_pull", "Fix 4"), _FIX_4)),
    StepRule("Verification 1", (Check("test_all_api_pods_running_with_zero_restarts"),)),
    StepRule("Verification 2", (Check("test_health_ready_is_healthy"),)),
    StepRule(
        "Verification 3", (Check("test_activities_answer_with_the_token"), Check("test_activity_write_path"))
    ),
    StepRule("Verification 4", (Check("test_metrics_expose_http_requests_total"),)),
    StepRule(
        "Verification 5", (Check("test_error_rate_below_one_percent"), Check("test_no_runbook_alert_firing"))
    ),
)

COMMANDS: tuple[CommandRule, ...] = (
    # Triage 1
    CommandRule(
        "Triage 1", "curl -f http://api.offgridflow.com/health/live", (Check("test_api_answers_health_live"),)
    ),
    CommandRule(
        "Triage 1",
        "kubectl get pods -n offgridflow -l app=offgridflow-api",
        (Check("test_api_pods_are_listed_with_status_and_restarts"),),
    ),
    CommandRule(
        "Triage 1",
        "kubectl describe pod -n offgridflow -l app=offgridflow-api",
        (TriageRule("image_pull", "Fix 4"), TriageRule("oom", "Fix 2")),
    ),
    CommandRule(
        "Triage 1",
        "kubectl logs -n offgridflow -l app=offgridflow-api --tail=100",
        (NotCovered(_LOGS_SHOWN),),
    ),
    # Triage 2A
    CommandRule(
        "Triage 2A",
        "kubectl get pods -n offgridflow -l app=offgridflow-api",
        (Check("test_api_is_not_crash_looping"),),
    ),
    CommandRule(
        "Triage 2A",
        "kubectl logs -n offgridflow -l app=offgridflow-api --previous",
        (
            TriageRule("config_error", "Fix 3"),
            Experiment("bad-config", "probe", "wait_for_crash_loop_with_config_error"),
        ),
    ),
    # Triage 2B
    CommandRule(
        "Triage 2B",
        "kubectl exec -n offgridflow deployment/offgridflow-api -- pg_isready -h postgres-service -p 5432",
        (
            Check("test_database_answers_from_the_api_side"),
            Experiment("db-kill", "probe", "wait_for_database_unreachable"),
        ),
    ),
    CommandRule(
        "Triage 2B",
        "kubectl logs -n offgridflow statefulset/postgres --tail=50",
        (NotCovered("the platforms read the database's logs (database_logs) but nothing judges them"),),
    ),
    # Triage 2C
    CommandRule(
        "Triage 2C",
        "kubectl top pods -n offgridflow -l app=offgridflow-api",
        (Check("test_resource_limits_are_set_and_not_exhausted"),),
    ),
    CommandRule(
        "Triage 2C",
        'kubectl describe pod -n offgridflow -l app=offgridflow-api | grep -A 5 "Limits"',
        (Check("test_resource_limits_are_set_and_not_exhausted"),),
    ),
    # Triage 2D
    CommandRule("Triage 2D", "kubectl get ingress -n offgridflow", (Check("test_traffic_reaches_the_api"),)),
    CommandRule(
        "Triage 2D",
        "kubectl get endpoints -n offgridflow offgridflow-api-service",
        (Check("test_traffic_reaches_the_api"),),
    ),
    # Quick Fix: no experiment applies it alone; Fix 1 ends with the same restart, every fix waits
    CommandRule("Quick Fix", "kubectl rollout restart deployment/offgridflow-api -n offgridflow", (_FIX_1,)),
    CommandRule("Quick Fix", "kubectl rollout status deployment/offgridflow-api -n offgridflow", (_FIX_3,)),
    # Fix 1
    CommandRule(
        "Fix 1", "kubectl get pods -n offgridflow -l app=postgres", (TriageRule("database", "Fix 1"),)
    ),
    CommandRule(
        "Fix 1",
        "kubectl get secret offgridflow-secrets -n offgridflow -o yaml",
        (NotCovered("prints the Secret's values; the suite never reads secrets into a report"),),
    ),
    CommandRule("Fix 1", "kubectl rollout restart statefulset/postgres -n offgridflow", (_FIX_1,)),
    CommandRule(
        "Fix 1",
        "kubectl wait --for=condition=ready pod -l app=postgres -n offgridflow --timeout=300s",
        (_FIX_1,),
    ),
    CommandRule("Fix 1", "kubectl rollout restart deployment/offgridflow-api -n offgridflow", (_FIX_1,)),
    # Fix 2
    CommandRule(
        "Fix 2",
        "kubectl get events -n offgridflow --sort-by='.lastTimestamp' | grep OOMKilled",
        (TriageRule("oom", "Fix 2"), Experiment("oom", "probe", "wait_for_oom_killed")),
    ),
    CommandRule(
        "Fix 2",
        "kubectl patch deployment offgridflow-api -n offgridflow -p <memory limit 2Gi, request 1Gi>",
        (_FIX_2,),
        matches=_memory_patch("2Gi", "1Gi"),
    ),
    CommandRule(
        "Fix 2",
        "watch kubectl top pods -n offgridflow -l app=offgridflow-api",
        (Experiment("oom", "probe", "memory_load_survives"),),
    ),
    # Fix 3
    CommandRule(
        "Fix 3",
        "kubectl get configmap offgridflow-config -n offgridflow -o yaml",
        (
            NotCovered(
                "nothing reads the ConfigMap by this name (with a hashed ConfigMap it does not exist); "
                "`offgridflow-runbook drift` runs it"
            ),
        ),
    ),
    CommandRule(
        "Fix 3",
        "kubectl rollout history deployment/offgridflow-api -n offgridflow",
        (NotCovered("the fixes read the history to find the current image; nothing judges it"),),
    ),
    CommandRule("Fix 3", "kubectl rollout undo deployment/offgridflow-api -n offgridflow", (_FIX_3,)),
    CommandRule("Fix 3", "kubectl rollout status deployment/offgridflow-api -n offgridflow", (_FIX_3,)),
    # Fix 4
    CommandRule(
        "Fix 4",
        'kubectl describe pod -n offgridflow -l app=offgridflow-api | grep "Failed to pull image"',
        (TriageRule("image_pull", "Fix 4"), Experiment("bad-image", "probe", "wait_for_image_pull_failure")),
    ),
    CommandRule(
        "Fix 4",
        "docker pull ghcr.io/your-org/offgridflow-api:latest",
        (
            NotCovered(
                "needs registry credentials for ghcr.io and changes this machine's images; the bad-image "
                "fault shows a missing tag failing to pull instead"
            ),
        ),
    ),
    CommandRule(
        "Fix 4",
        "kubectl set image deployment/offgridflow-api -n offgridflow "
        "api=ghcr.io/your-org/offgridflow-api:v1.2.3",
        (_FIX_4,),
    ),
    # Verification
    CommandRule(
        "Verification 1",
        "kubectl get pods -n offgridflow -l app=offgridflow-api",
        (Check("test_all_api_pods_running_with_zero_restarts"),),
    ),
    CommandRule(
        "Verification 2",
        "curl http://api.offgridflow.com/health/ready",
        (Check("test_health_ready_is_healthy"),),
    ),
    CommandRule(
        "Verification 3",
        'curl -H "Authorization: Bearer $TOKEN" http://api.offgridflow.com/v1/activities?limit=1',
        (Check("test_activities_answer_with_the_token"),),
    ),
    CommandRule(
        "Verification 4",
        'curl http://api.offgridflow.com:8081/metrics | grep "http_requests_total"',
        (Check("test_metrics_expose_http_requests_total"),),
    ),
)


# -- the report ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CoverageItem:
    """One runbook step or command, and what proves it."""

    step: str
    line: int
    kind: str  # "alert", "step" or "command"
    text: str
    status: str  # "covered", "not covered" or "unmapped"
    proofs: tuple[str, ...] = ()  # the resolved proofs, or the reasons it is not covered

    @property
    def covered(self) -> bool:
        return self.status == "covered"


@dataclass(frozen=True)
class CoverageReport:
    runbook: Path
    items: tuple[CoverageItem, ...]
    stale: tuple[str, ...] = ()  # map entries that match nothing in the runbook

    @property
    def percent(self) -> float:
        return 100.0 * sum(i.covered for i in self.items) / len(self.items) if self.items else 0.0

    @property
    def unmapped(self) -> tuple[CoverageItem, ...]:
        return tuple(i for i in self.items if i.status == "unmapped")

    @property
    def drift(self) -> tuple[str, ...]:
        """Both directions of runbook <-> suite drift, one message each (empty: none)."""
        return (
            tuple(
                f"{self.runbook.name}:{i.line}: {i.step}: {i.kind} `{i.text}`: "
                "nothing in the suite maps to it"
                for i in self.unmapped
            )
            + self.stale
        )

    def summary(self) -> str:
        covered = sum(i.covered for i in self.items)
        return (
            f"runbook coverage: {covered}/{len(self.items)} steps and commands proved ({self.percent:.0f}%)"
        )

    def table(self) -> str:
        rows = [("line", "step", "item", "status", "proved by / why not")]
        for item in self.items:
            text = item.text if len(item.text) <= 70 else item.text[:67] + "..."
            rows.append((str(item.line), item.step, text, item.status, "; ".join(item.proofs) or "-"))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4] for row in rows
        ]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {
            "runbook": str(self.runbook),
            "percent": round(self.percent, 1),
            "covered": sum(i.covered for i in self.items),
            "items": len(self.items),
            "not_covered": [
                {"step": i.step, "line": i.line, "text": i.text, "status": i.status, "why": list(i.proofs)}
                for i in self.items
                if not i.covered
            ],
            "drift": list(self.drift),
        }


def _names(proofs: tuple[Proof, ...]) -> str:
    return ", ".join(
        getattr(p, "name", None) or getattr(p, "func", None) or getattr(p, "cause", None) or "not covered"
        for p in proofs
    )


def _judge(proofs: tuple[Proof, ...], project: Project, step: str) -> tuple[str, tuple[str, ...]]:
    resolved = [proof.resolve(project, step) for proof in proofs]
    good = tuple(what for ok, what in resolved if ok)
    if good:
        return "covered", good
    return "not covered", tuple(what for _, what in resolved)


def coverage(
    runbook: Runbook,
    project: Project | None = None,
    steps: tuple[StepRule, ...] = STEPS,
    commands: tuple[CommandRule, ...] = COMMANDS,
) -> CoverageReport:
    """Map every step, command and alert of ``runbook`` to its proofs in ``project``."""
    project = project or Project()
    items: list[CoverageItem] = []
    alert_status, alert_proofs = _judge((Alert(runbook.alert),), project, "Alert Name")
    items.append(
        CoverageItem("Alert Name", runbook.alert_line, "alert", runbook.alert, alert_status, alert_proofs)
    )
    for name, line in runbook.related_alerts.items():
        status, proofs = _judge((Alert(name),), project, "Related Alerts")
        items.append(CoverageItem("Related Alerts", line, "alert", name, status, proofs))
    used_steps: set[int] = set()
    used_commands: set[int] = set()
    for step in runbook.steps:
        step_rules = [i for i, rule in enumerate(steps) if rule.step == step.id]
        used_steps.update(step_rules)
        if step_rules:
            status, proofs = _judge(tuple(p for i in step_rules for p in steps[i].proofs), project, step.id)
            items.append(CoverageItem(step.id, step.line, "step", step.title, status, proofs))
        else:
            items.append(CoverageItem(step.id, step.line, "step", step.title, "unmapped"))
        for command in step.commands:
            rules = [i for i, rule in enumerate(commands) if rule.match(command) and i not in used_commands]
            if not rules:
                items.append(CoverageItem(step.id, command.line, "command", command.text, "unmapped"))
                continue
            used_commands.add(rules[0])
            status, proofs = _judge(commands[rules[0]].proofs, project, step.id)
            items.append(CoverageItem(step.id, command.line, "command", command.text, status, proofs))
    for command in runbook.stray_commands:
        items.append(
            CoverageItem("outside the procedures", command.line, "command", command.text, "unmapped")
        )
    stale = tuple(
        f"{runbook.path.name}: {rule.step}: the suite proves this step ({_names(rule.proofs)}) "
        "but the runbook has no such step"
        for i, rule in enumerate(steps)
        if i not in used_steps
    ) + tuple(
        f"{runbook.path.name}: {rule.step}: the suite proves `{rule.command}` ({_names(rule.proofs)}) "
        f"but the runbook's {rule.step} has no such command"
        for i, rule in enumerate(commands)
        if i not in used_commands
    )
    return CoverageReport(runbook.path, tuple(items), stale)
