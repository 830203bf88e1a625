"""The map: per runbook step (:data:`STEPS`) and per command line of each step (:data:`COMMANDS`,
matched by its text, whitespace collapsed), the proofs that the suite proves it, or why not."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from offgridflow_runbook.coverage.proofs import Check, Experiment, NotCovered, Proof, Role, TriageRule
from offgridflow_runbook.runbook.document import Command
from offgridflow_runbook.runbook.triage import Cause

__all__ = ["COMMANDS", "STEPS", "CommandRule", "StepRule"]


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
_FIX_1 = Experiment("db-kill", Role.FIX, "fix_1_restart_database_then_api")
_FIX_2 = Experiment("oom", Role.FIX, "fix_2_patch_memory", {"limit": "2Gi", "request": "1Gi"})
_FIX_3 = Experiment("bad-config", Role.FIX, "fix_3_rollout_undo")
_FIX_4 = Experiment("bad-image", Role.FIX, "fix_4_set_known_good_image")  # the tag: the runbook's own

STEPS: tuple[StepRule, ...] = (
    StepRule("Triage 1", (Check("test_api_answers_health_live"), TriageRule(Cause.UNREACHABLE, "Triage 1"))),
    StepRule(
        "Triage 2A", (Check("test_api_is_not_crash_looping"), TriageRule(Cause.CRASH_LOOP, "Quick Fix"))
    ),
    StepRule(
        "Triage 2B",
        (
            Check("test_database_answers_from_the_api_side"),
            TriageRule(Cause.DATABASE, "Fix 1"),
            Experiment("db-kill", Role.PROBE, "wait_for_database_unreachable"),
        ),
    ),
    StepRule(
        "Triage 2C",
        (Check("test_resource_limits_are_set_and_not_exhausted"), TriageRule(Cause.RESOURCES, "Fix 2")),
    ),
    StepRule("Triage 2D", (Check("test_traffic_reaches_the_api"), TriageRule(Cause.NETWORK, "Triage 2D"))),
    StepRule("Quick Fix", (TriageRule(Cause.CRASH_LOOP, "Quick Fix"),)),
    StepRule("Fix 1", (TriageRule(Cause.DATABASE, "Fix 1"), _FIX_1)),
    StepRule("Fix 2", (TriageRule(Cause.OOM, "Fix 2"), _FIX_2)),
    StepRule("Fix 3", (TriageRule(Cause.CONFIG_ERROR, "Fix 3"), _FIX_3)),
    StepRule("Fix 4", (TriageRule(Cause.IMAGE_PULL, "Fix 4"), _FIX_4)),
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
        (TriageRule(Cause.IMAGE_PULL, "Fix 4"), TriageRule(Cause.OOM, "Fix 2")),
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
            TriageRule(Cause.CONFIG_ERROR, "Fix 3"),
            Experiment("bad-config", Role.PROBE, "wait_for_crash_loop_with_config_error"),
        ),
    ),
    # Triage 2B
    CommandRule(
        "Triage 2B",
        "kubectl exec -n offgridflow deployment/offgridflow-api -- pg_isready -h postgres-service -p 5432",
        (
            Check("test_database_answers_from_the_api_side"),
            Experiment("db-kill", Role.PROBE, "wait_for_database_unreachable"),
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
        "Fix 1", "kubectl get pods -n offgridflow -l app=postgres", (TriageRule(Cause.DATABASE, "Fix 1"),)
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
        (TriageRule(Cause.OOM, "Fix 2"), Experiment("oom", Role.PROBE, "wait_for_oom_killed")),
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
        (Experiment("oom", Role.PROBE, "memory_load_survives"),),
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
        (
            TriageRule(Cause.IMAGE_PULL, "Fix 4"),
            Experiment("bad-image", Role.PROBE, "wait_for_image_pull_failure"),
        ),
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
