"""System -> runbook drift: run the runbook's read-only commands against a target and check that
each still succeeds with the shape the runbook expects.

Only commands the parser marks read-only are ever executed; a changing one (``rollout restart``,
``patch``, ``set image``, ``docker pull``...) is reported as ``not run``. ``curl`` lines run against the
target's URLs (the runbook's host replaced by ``base_url``, ``:8081/metrics`` by ``metrics_url``,
``$TOKEN`` by the target's token, never shown). ``kubectl`` lines run on Kubernetes targets with the
target's namespace, context and kubeconfig (the binary from ``kubectl=``, ``$KUBECTL`` or PATH); on
other platforms they are ``not applicable`` (never passed). Each result is one of:

- ``passed``: ran, and the answer has the expected shape;
- ``drift``: ran, and the runbook no longer describes the system (a name that does not exist, a
  selector that matches nothing, a path answering 404, an Expected shape not seen);
- ``unknown``: could not run or could not see (target unreachable, no kubectl, RBAC, no metrics
  API, no token): never a pass and never drift;
- ``not applicable`` / ``not run``: see above.

A filter after ``|`` (``grep OOMKilled``) in a Triage or Fix step looks for a symptom, so no match
there is fine; in Verification the filter is the expected shape, so no match is drift.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from offgridflow_runbook.reporting import REDACTED
from offgridflow_runbook.runbook.commands import docker_equivalent, target_url
from offgridflow_runbook.runbook.document import Command, Runbook
from offgridflow_runbook.runbook.location import KUBECTL_ENV
from offgridflow_runbook.runbook.steps import activity_list
from offgridflow_runbook.targets import Target

__all__ = ["KUBECTL_ENV", "DriftReport", "DriftResult", "Outcome", "Runner", "drift"]

TOKEN_VARIABLE = "$TOKEN"
EXIT_DRIFT = 1
EXIT_UNKNOWN = 3


class Outcome:
    PASSED = "passed"
    DRIFT = "drift"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not applicable"
    NOT_RUN = "not run"


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


# (argv, stdin, timeout seconds) -> what it did; tests pass their own
Runner = Callable[[Sequence[str], str | None, float], Ran]


def _subprocess_runner(argv: Sequence[str], stdin: str | None, timeout: float) -> Ran:
    try:
        done = subprocess.run(
            list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return Ran(124, "", f"no answer within {timeout:.0f} s")
    except OSError as error:
        return Ran(127, "", f"{argv[0]}: {error.strerror or error}")
    return Ran(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True)
class DriftResult:
    command: Command
    outcome: str
    message: str
    ran: str = ""  # the command as executed, token redacted

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.command.step,
            "line": self.command.line,
            "command": self.command.text,
            "outcome": self.outcome,
            "message": self.message,
            "ran": self.ran,
        }


@dataclass(frozen=True)
class DriftReport:
    target: str
    runbook: str
    results: tuple[DriftResult, ...]

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.results)

    @property
    def exit_code(self) -> int:
        """1 drift found; 3 nothing drifted but something could not be seen; 0 otherwise."""
        if self.count(Outcome.DRIFT):
            return EXIT_DRIFT
        return EXIT_UNKNOWN if self.count(Outcome.UNKNOWN) else 0

    def summary(self) -> str:
        counts = ", ".join(
            f"{self.count(o)} {o}"
            for o in (Outcome.DRIFT, Outcome.PASSED, Outcome.UNKNOWN, Outcome.NOT_APPLICABLE, Outcome.NOT_RUN)
        )
        return f"drift of target {self.target!r} from {self.runbook}: {counts}"

    def table(self) -> str:
        lines = []
        for r in self.results:
            lines.append(
                f"{self.runbook}:{r.command.line}  {r.command.step}  {r.outcome.upper()}  {r.command.text}"
            )
            lines.append(f"    {r.message}")
        return "\n".join([*lines, self.summary()])

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "runbook": self.runbook,
            "exit_code": self.exit_code,
            "results": [r.as_dict() for r in self.results],
        }


# -- curl ----------------------------------------------------------------------------------------------
_CURL_UNREACHABLE = {5, 6, 7, 28, 35, 52, 56, 60, 124, 127}


def _curl(command: Command, target: Target, run: Runner, timeout: float) -> DriftResult:
    argv = list(command.argv[1:] if command.argv[0] == "watch" else command.argv)
    token = target.token
    if any(TOKEN_VARIABLE in arg for arg in argv) and token is None:
        return DriftResult(command, Outcome.UNKNOWN, f"no bearer token: ${target.token_env} is not set")
    argv = [target_url(arg, target) if arg.startswith(("http://", "https://")) else arg for arg in argv]
    shown = shlex.join(argv)
    argv = [arg.replace(TOKEN_VARIABLE, token or "") for arg in argv]
    # quiet but with errors, bounded, and the status code written after the body
    executed = [argv[0], "-sS", "--max-time", f"{timeout:.0f}", "-w", "\n%{http_code}", *argv[1:]]
    done = run(executed, None, timeout + 5)
    body, _, code = done.stdout.rpartition("\n")
    if done.returncode in _CURL_UNREACHABLE or not code.strip().isdigit() or code.strip() == "000":
        why = (
            done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"curl exited {done.returncode}"
        )
        return DriftResult(command, Outcome.UNKNOWN, f"could not reach the target: {why}", shown)
    status = int(code)
    if status in (401, 403):
        return DriftResult(command, Outcome.UNKNOWN, f"HTTP {status}: the target refused the token", shown)
    if status == 404:
        return DriftResult(command, Outcome.DRIFT, "HTTP 404: the path no longer exists", shown)
    if not 200 <= status < 300:
        return DriftResult(command, Outcome.DRIFT, f"HTTP {status}, expected a 2xx answer", shown)
    problem = _expected_problem(command, status, body)
    if problem:
        return DriftResult(command, Outcome.DRIFT, problem, shown)
    return _filtered(command, body, run, timeout, f"HTTP {status}", shown, expected_checked=True)


def _json(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _expected_problem(command: Command, status: int, body: str) -> str | None:
    """Why the answer lacks a shape an ``Expected:`` line names (None when it has them all)."""
    for expected in command.expected:
        if '"status":"healthy"' in expected.replace(" ", ""):
            document = _json(body)
            if not (isinstance(document, dict) and document.get("status") == "healthy"):
                return f"Expected {expected}; the answer is {body.strip()[:120]!r}"
        if "200 OK" in expected and status != 200:
            return f"Expected {expected}; the answer is HTTP {status}"
        if "activity data" in expected and activity_list(_json(body)) is None:
            return f"Expected {expected}; the answer holds no list of activities"
    return None


def _filtered(
    command: Command,
    output: str,
    run: Runner,
    timeout: float,
    seen: str,
    shown: str,
    *,
    expected_checked: bool = False,
) -> DriftResult:
    """Apply the pipeline's filters (``grep ...``) to ``output``. Only an answer whose Expected
    shape was checked (``expected_checked``) says so: kubectl lines are judged by the names they
    find; their state (Running, restarts) is the checks' business."""
    for segment in command.pipeline[1:]:
        done = run(list(segment), output, timeout)
        if done.returncode == 1 and segment[0] == "grep":
            what = " ".join(segment)
            if command.step.startswith("Verification"):
                return DriftResult(command, Outcome.DRIFT, f"{seen}, but no line matches `{what}`", shown)
            return DriftResult(
                command, Outcome.PASSED, f"{seen}; `{what}` matches nothing (symptom absent)", shown
            )
        if done.returncode != 0:
            return DriftResult(
                command,
                Outcome.UNKNOWN,
                f"the filter `{' '.join(segment)}` failed: {done.stderr.strip()}",
                shown,
            )
        output = done.stdout
    lines = len(output.strip().splitlines())
    expected = (
        f", as expected: {'; '.join(command.expected)}" if command.expected and expected_checked else ""
    )
    return DriftResult(command, Outcome.PASSED, f"{seen}, {lines} line(s) of output{expected}", shown)


# -- kubectl -------------------------------------------------------------------------------------------
_KUBECTL_UNKNOWN = (
    "unable to connect",
    "connection refused",
    "no configuration has been provided",
    "context was not found",
    "forbidden",
    "metrics api not available",
    "metrics not available",
    "i/o timeout",
    "the server has asked for the client to provide credentials",
    "no answer within",
)
_NO_PREVIOUS = "previous terminated container"
_WAIT_TIMEOUT = re.compile(r"^--timeout=.*$")


def kubectl_binary(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get(KUBECTL_ENV) or shutil.which("kubectl")


def _kubectl_argv(command: Command, target: Target, binary: str, timeout: float) -> list[str]:
    argv = list(command.argv[1:] if command.argv[0] == "watch" else command.argv)
    out = [binary]
    skip_next = False
    for i, arg in enumerate(argv[1:], start=1):
        if skip_next:
            skip_next = False
            continue
        if arg in ("-n", "--namespace") and i + 1 < len(argv):
            out += ["-n", target.namespace]
            skip_next = True
        elif _WAIT_TIMEOUT.match(arg):
            # read-only, but the runbook waits up to 5 minutes: on a healthy target it returns at once
            out.append(f"--timeout={timeout:.0f}s")
        else:
            out.append(arg)
    extra = [f"--request-timeout={timeout:.0f}s"]
    if target.kube_context:
        extra.append(f"--context={target.kube_context}")
    if target.kubeconfig:
        extra.append(f"--kubeconfig={target.kubeconfig}")
    # options before `--` (kubectl exec passes what follows to the container)
    cut = out.index("--") if "--" in out else len(out)
    return out[:cut] + extra + out[cut:]


def _kubectl(
    command: Command, target: Target, run: Runner, binary: str | None, timeout: float
) -> DriftResult:
    if target.platform != "kubernetes":
        instead = docker_equivalent(command, target) if target.platform == "docker" else None
        because = f"kubectl on a {target.platform} target (no Kubernetes API)"
        return DriftResult(
            command,
            Outcome.NOT_APPLICABLE,
            because + (f"; the suite does instead: {instead}" if instead else ""),
        )
    binary = kubectl_binary(binary)
    if binary is None:
        return DriftResult(command, Outcome.UNKNOWN, f"no kubectl: set ${KUBECTL_ENV} or put kubectl on PATH")
    argv = _kubectl_argv(command, target, binary, timeout)
    shown = shlex.join(["kubectl", *argv[1:]])
    done = run(argv, None, timeout + 5)
    error = (done.stderr.strip().splitlines() or [""])[-1]
    lowered = done.stderr.lower()
    if done.returncode != 0:
        if _NO_PREVIOUS in lowered:
            return DriftResult(command, Outcome.PASSED, "no previous container: nothing restarted", shown)
        if any(marker in lowered for marker in _KUBECTL_UNKNOWN) or done.returncode in (124, 127):
            return DriftResult(command, Outcome.UNKNOWN, f"could not see: {error}", shown)
        if "notfound" in lowered.replace(" ", "") or "not found" in lowered:
            return DriftResult(command, Outcome.DRIFT, f"the runbook's name no longer exists: {error}", shown)
        if (
            "unknown flag" in lowered
            or "unknown command" in lowered
            or "doesn't have a resource type" in lowered
        ):
            return DriftResult(
                command, Outcome.DRIFT, f"kubectl no longer accepts the command: {error}", shown
            )
        return DriftResult(command, Outcome.UNKNOWN, f"kubectl exited {done.returncode}: {error}", shown)
    if "no resources found" in lowered or not done.stdout.strip():
        return DriftResult(
            command,
            Outcome.DRIFT,
            f"matches nothing: {error or 'no output'} (a selector or name the system lacks)",
            shown,
        )
    if "secret" in command.argv:
        # the Secret exists; its values are never shown or kept
        return DriftResult(command, Outcome.PASSED, "exists (values not shown)", shown)
    return _filtered(command, done.stdout, run, timeout, "exit 0", shown)


# -- the report ----------------------------------------------------------------------------------------
def _one(command: Command, target: Target, run: Runner, kubectl: str | None, timeout: float) -> DriftResult:
    if not command.read_only:
        return DriftResult(
            command, Outcome.NOT_RUN, f"changes the system ({command.why}); drift never runs it"
        )
    if command.program == "curl":
        return _curl(command, target, run, timeout)
    if command.program == "kubectl":
        return _kubectl(command, target, run, kubectl, timeout)
    return DriftResult(
        command, Outcome.NOT_APPLICABLE, f"drift runs curl and kubectl lines, not {command.program}"
    )


def _redact(result: DriftResult, token: str | None) -> DriftResult:
    if not token:
        return result
    return DriftResult(
        result.command,
        result.outcome,
        result.message.replace(token, REDACTED),
        result.ran.replace(token, REDACTED),
    )


def drift(
    runbook: Runbook,
    target: Target,
    *,
    run: Runner = _subprocess_runner,
    kubectl: str | None = None,
    timeout: float = 15.0,
) -> DriftReport:
    """Run every read-only command of ``runbook`` against ``target`` (one at a time, each bounded)."""
    results = tuple(
        _redact(_one(command, target, run, kubectl, timeout), target.token) for command in runbook.commands
    )
    return DriftReport(target.name, runbook.path.name, results)
