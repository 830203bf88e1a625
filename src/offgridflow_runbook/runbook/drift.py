"""System -> runbook drift: run the runbook's read-only commands against a target and check that
each still succeeds with the shape the runbook expects.

A line runs only when it is one of the exact read-only shapes of
:mod:`offgridflow_runbook.runbook.allowlist` (kubectl get/describe/logs/top/wait/rollout status and
history, curl GET, filters that write nothing), judged on the line's own words, never on what the
runbook parser thinks of it; every other line is ``not run`` with the reason (``not read-only: curl -X
POST sends POST``). Nothing runs through a shell. On a target with ``allow_writes: false`` only GET
requests are sent (a HEAD line is not run either). ``curl`` lines run against the target's URLs (the
runbook's host replaced by ``base_url``, ``:8081/metrics`` by ``metrics_url``); a header naming
``$TOKEN`` reaches curl on its standard input (``-H @-``), so the token is never on a command line.
``kubectl`` lines run on Kubernetes targets with the target's namespace, context and kubeconfig (the
binary from ``kubectl=``, ``$KUBECTL`` or PATH) and drift's own timeouts; on other platforms they are
``not applicable`` (never passed). Each result is one of:

- ``passed``: ran, and the answer has the expected shape;
- ``drift``: ran, and the runbook no longer describes the system (a name that does not exist, a
  selector that matches nothing, a path answering 404, an Expected shape not seen);
- ``unknown``: could not run or could not see (target unreachable, no kubectl, RBAC, no metrics
  API, no token): never a pass and never drift;
- ``not applicable`` / ``not run``: see above. Neither counts as drift.

A filter after ``|`` (``grep OOMKilled``) in a Triage or Fix step looks for a symptom, so no match
there is fine; in Verification the filter is the expected shape, so no match is drift.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from offgridflow_runbook.platforms import runbook_commands
from offgridflow_runbook.reporting import REDACTED
from offgridflow_runbook.runbook.allowlist import TOKEN_VARIABLE, NotReadOnly, ReadOnly, read_only
from offgridflow_runbook.runbook.commands import platform_equivalent, target_url
from offgridflow_runbook.runbook.document import Command, Runbook
from offgridflow_runbook.runbook.location import KUBECTL_ENV
from offgridflow_runbook.runbook.steps import activity_list
from offgridflow_runbook.targets import Target

__all__ = ["KUBECTL_ENV", "DriftReport", "DriftResult", "Outcome", "Ran", "Runner", "drift", "run_subprocess"]

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


def run_subprocess(argv: Sequence[str], stdin: str | None, timeout: float) -> Ran:
    """The default :data:`Runner`: ``argv`` as one process (no shell), ``stdin`` on its standard input."""
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


def _curl(command: Command, shape: ReadOnly, target: Target, run: Runner, timeout: float) -> DriftResult:
    if shape.verb != "GET" and not target.allow_writes:
        return DriftResult(
            command,
            Outcome.NOT_RUN,
            f"not read-only: sends {shape.verb}; on a target with allow_writes: false drift sends only GET",
        )
    token = target.token
    if shape.token_headers and token is None:
        return DriftResult(command, Outcome.UNKNOWN, f"no bearer token: ${target.token_env} is not set")
    url = target_url(shape.url, target)
    options = list(shape.argv[1:-1])
    shown = shlex.join(["curl", *options, *(w for h in shape.token_headers for w in ("-H", h)), url])
    # -q first: no ~/.curlrc; quiet but with errors, no URL globbing, bounded, the status code
    # written after the body; headers naming $TOKEN on stdin, never in argv
    executed = ["curl", "-q", "-sS", "-g", "--max-time", f"{timeout:.0f}", "-w", "\n%{http_code}", *options]
    secret = None
    if shape.token_headers:
        executed += ["-H", "@-"]
        secret = "".join(h.replace(TOKEN_VARIABLE, token or "") + "\n" for h in shape.token_headers)
    done = run([*executed, url], secret, timeout + 5)
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
    return _filtered(command, shape, body, run, timeout, f"HTTP {status}", shown, expected_checked=True)


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
    shape: ReadOnly,
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
    for segment in shape.filters:
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
# the verbs that wait for a state: drift bounds the wait by its own timeout (the runbook waits up to
# 5 minutes; on a healthy target they return at once)
_WAITING_VERBS = frozenset({"wait", "rollout status"})


def kubectl_binary(explicit: str | None = None) -> str | None:
    return explicit or os.environ.get(KUBECTL_ENV) or shutil.which("kubectl")


def _kubectl_argv(shape: ReadOnly, target: Target, binary: str, timeout: float) -> list[str]:
    """The allowed line with the target's namespace, context and kubeconfig (the allowlist dropped
    the line's own) and drift's timeouts."""
    out = [binary, *shape.argv[1:], "-n", target.namespace, f"--request-timeout={timeout:.0f}s"]
    if shape.verb in _WAITING_VERBS:
        out.append(f"--timeout={timeout:.0f}s")
    if target.kube_context:
        out.append(f"--context={target.kube_context}")
    if target.kubeconfig:
        out.append(f"--kubeconfig={target.kubeconfig}")
    return out


def _kubectl(
    command: Command, shape: ReadOnly, target: Target, run: Runner, binary: str | None, timeout: float
) -> DriftResult:
    if not runbook_commands(target.platform).runs_kubectl:
        instead = platform_equivalent(command, target)
        because = f"kubectl on a {target.platform} target (no Kubernetes API)"
        return DriftResult(
            command,
            Outcome.NOT_APPLICABLE,
            because + (f"; the suite does instead: {instead}" if instead else ""),
        )
    binary = kubectl_binary(binary)
    if binary is None:
        return DriftResult(command, Outcome.UNKNOWN, f"no kubectl: set ${KUBECTL_ENV} or put kubectl on PATH")
    argv = _kubectl_argv(shape, target, binary, timeout)
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
    if "secret" in shape.argv:
        # the Secret exists; its values are never shown or kept
        return DriftResult(command, Outcome.PASSED, "exists (values not shown)", shown)
    return _filtered(command, shape, done.stdout, run, timeout, "exit 0", shown)


# -- the report ----------------------------------------------------------------------------------------
def _one(command: Command, target: Target, run: Runner, kubectl: str | None, timeout: float) -> DriftResult:
    # judged on the line itself, whatever the runbook parser concluded about it
    try:
        shape = read_only(command.text)
    except NotReadOnly as refused:
        return DriftResult(command, Outcome.NOT_RUN, f"not read-only: {refused}")
    if shape.program == "curl":
        return _curl(command, shape, target, run, timeout)
    return _kubectl(command, shape, target, run, kubectl, timeout)


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
    run: Runner = run_subprocess,
    kubectl: str | None = None,
    timeout: float = 15.0,
    at_once: int = 4,
) -> DriftReport:
    """Run every read-only command of ``runbook`` against ``target``, each bounded by ``timeout``;
    ``at_once`` of them at a time (``run`` must allow that), the results in the runbook's order.

    Side by side because the waiting verbs wait out their whole bound on a target that is not in the
    state they wait for (a stuck rollout: the runbook's two ``rollout status`` lines took 15 s each,
    one after the other). A few reads at a time stay gentle on a production API server."""
    if at_once < 1:
        raise ValueError(f"at_once must be at least 1, not {at_once}")

    def one(command: Command) -> DriftResult:
        return _redact(_one(command, target, run, kubectl, timeout), target.token)

    with ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="drift") as pool:
        results = tuple(pool.map(one, runbook.commands))
    return DriftReport(target.name, runbook.path.name, results)
