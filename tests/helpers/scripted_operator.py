"""A scripted operator: plays the people of an operator game day by running the runbook's own commands.

It watches the game day as a person does (the live view's state: the phase, the page) and, each move
after its delay, says ``ack``, calls a section (a wrong one first if told), and applies the fix by
running the commands of that runbook section, read from the runbook file through the runbook model
and rendered for the target (``runbook.commands``):

- on Docker, each command's Docker equivalent names the Platform call it is (``(Platform.patch_memory)``),
  made with the command's own arguments (the memory limits in its JSON, the known-good tag);
- on Kubernetes, the rendered ``kubectl`` line itself runs (not ``watch``, not a pipeline: reads).

Used with a fake clock in the unit tests and with real time in the e2e and kind tiers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from helpers.stack_lock import this_process_holds_the_stack_lock
from offgridflow_runbook.environments.local import LOCK_HELD_ENV
from offgridflow_runbook.operator.desk import OPERATOR_DIR_ENV, Desk
from offgridflow_runbook.operator.phases import PHASES
from offgridflow_runbook.platforms import Platform
from offgridflow_runbook.project import project_root
from offgridflow_runbook.proofs import PROOFS_ENV
from offgridflow_runbook.runbook.commands import known_good_tag, platform_equivalent, render_command
from offgridflow_runbook.runbook.document import Command, load_runbook
from offgridflow_runbook.targets import Target

_PLATFORM_CALL = re.compile(r"\(Platform\.(\w+)\)")
_MEMORY = {
    kind: re.compile(rf'"{kind}"\s*:\s*\{{\s*"memory"\s*:\s*"([^"]+)"') for kind in ("limits", "requests")
}
KUBECTL_TIMEOUT_S = 330.0  # the runbook's own `kubectl wait --timeout=300s`, and a little
ROLLBACK_GRACE_S = 400.0  # after SIGINT: the restore's rollout and Verification


def _image_now(platform: Platform) -> str:
    history = platform.rollout_history()
    return history[-1].image if history else platform.api_workloads()[0].image


def _docker_action(command: Command, method: str) -> Callable[[Platform], None]:
    if method == "patch_memory":
        limit, request = (_MEMORY[kind].search(command.text) for kind in ("limits", "requests"))
        if limit is None or request is None:
            raise AssertionError(f"the runbook's memory patch has no limits/requests: {command.text}")
        return lambda platform: platform.patch_memory(limit=limit.group(1), request=request.group(1))
    if method == "set_image":
        tag = known_good_tag()
        return lambda platform: platform.set_image(_image_now(platform).rsplit(":", 1)[0] + f":{tag}")
    return lambda platform: getattr(platform, method)()


class CommandFailed(Exception):
    """A runbook line the operator ran answered with an error (its last stderr line in ``args[0]``)."""


def runbook_fix(
    section: str, target: Target, kubectl: str = "kubectl"
) -> list[tuple[str, Callable[[Platform], None]]]:
    """The commands of ``section`` as the operator runs them on ``target``: (the line, the action);
    on Kubernetes ``kubectl`` is the binary the rendered lines run with."""
    actions: list[tuple[str, Callable[[Platform], None]]] = []
    for command in load_runbook().step(section).commands:
        line = render_command(command, target)
        if target.platform == "docker":
            method = _PLATFORM_CALL.search(platform_equivalent(command, target) or "")
            if method is not None:
                actions.append((line, _docker_action(command, method.group(1))))
        elif command.argv[0] == "kubectl" and len(command.pipeline) == 1:
            argv = [kubectl, *shlex.split(line)[1:]]
            env = {"KUBECONFIG": target.kubeconfig} if target.kubeconfig else None

            def run(_platform: Platform, argv: list[str] = argv, env: Any = env) -> None:
                done = subprocess.run(
                    argv,
                    check=False,
                    timeout=KUBECTL_TIMEOUT_S,
                    capture_output=True,
                    text=True,
                    env={**os.environ, **(env or {})},
                )
                if done.returncode != 0:
                    raise CommandFailed(done.stderr.strip().splitlines()[-1:] or [f"exit {done.returncode}"])

            actions.append((line, run))
    assert actions, f"the runbook's {section} has no command the operator can run on {target.platform}"
    return actions


@dataclass
class Move:
    """One thing the operator does, once ``ready`` holds on the game day's state, ``delay_s`` later."""

    name: str
    ready: Callable[[dict[str, Any]], bool]
    act: Callable[[], None]
    delay_s: float
    ready_at: float | None = None
    done_at: float | None = None


@dataclass
class ScriptedOperator:
    """Plays a list of moves against the game day's state (see the module's docstring)."""

    moves: list[Move]
    ran: list[str] = field(default_factory=list)

    def step(self, state: dict[str, Any], now: float) -> None:
        """Do every next move that is due (in order: a move waits for the one before it)."""
        for move in self.moves:
            if move.done_at is not None:
                continue
            if move.ready_at is None and move.ready(state):
                move.ready_at = now
            if move.ready_at is None or now < move.ready_at + move.delay_s:
                return
            move.act()
            move.done_at = now
            self.ran.append(move.name)

    @property
    def finished(self) -> bool:
        return all(move.done_at is not None for move in self.moves)


def paged(state: dict[str, Any]) -> bool:
    return state.get("page") is not None


def always(_state: dict[str, Any]) -> bool:
    return True


def operator_for(
    desk: Desk,
    section: str,
    target: Target,
    platform: Callable[[], Platform],
    *,
    wrong_first: str | None = None,
    fix: bool = True,
    delays: tuple[float, float, float] = (5.0, 10.0, 5.0),
    kubectl: str = "kubectl",
) -> ScriptedOperator:
    """The usual response: ack the page, call (``wrong_first`` before the right ``section``), then run
    ``section``'s commands; with ``fix=False`` the operator never fixes it (the safety net's run)."""
    ack, call, apply = delays
    moves = [Move("ack", paged, lambda: desk.send("ack"), ack)]
    if wrong_first is not None:
        moves.append(Move(f"call {wrong_first}", always, lambda: desk.send("call", wrong_first), call))
    moves.append(Move(f"call {section}", always, lambda: desk.send("call", section), call))
    moves.append(
        Move("note", always, lambda: desk.send("note", f"looked up how {section} is done here"), 0.0)
    )
    if fix:

        def run_fix() -> None:
            opened = platform()
            try:
                for line, action in runbook_fix(section, target, kubectl):
                    try:
                        action(opened)
                    except CommandFailed as failed:
                        # as a person would: say what the runbook's line answered, go on with the next
                        desk.send("note", f"runbook line failed: {line}: {failed.args[0][0]}")
            finally:
                opened.close()

        moves.append(Move(f"run {section}", always, run_fix, apply))
    return ScriptedOperator(moves)


@dataclass(frozen=True)
class Stage:
    """Where one operator game day of a test runs: its desk, reports and proofs under ``directory``,
    the environment of its subprocess (with the stack lock passed on when this process holds it)."""

    directory: Path
    token: str
    extra_env: tuple[tuple[str, str], ...] = ()

    @property
    def desk(self) -> Desk:
        return Desk(self.directory / "desk")

    @property
    def reports(self) -> Path:
        return self.directory / "reports"

    @property
    def proofs(self) -> Path:
        return self.directory / "proofs.jsonl"

    def environment(self) -> dict[str, str]:
        environment = (
            dict(os.environ)
            | dict(self.extra_env)
            | {
                "OFFGRIDFLOW_TOKEN": self.token,
                OPERATOR_DIR_ENV: str(self.directory / "desk"),
                PROOFS_ENV: str(self.proofs),
            }
        )
        if this_process_holds_the_stack_lock():
            environment[LOCK_HELD_ENV] = "1"
        return environment


def play_operator_gameday(
    stage: Stage,
    target: str,
    mode: str,
    operator: ScriptedOperator,
    *,
    sla_share: float,
    deadline_s: float,
    rollback_margin_s: float = 200.0,
    poll_s: float = 1.0,
) -> tuple[dict[str, Any], str]:
    """Run ``offgridflow-runbook gameday --operator`` for ``mode`` on ``target`` in a subprocess and
    play ``operator`` against its live view until it ends. Bounded: the game day's own ``--deadline``
    is ``deadline_s - rollback_margin_s`` (it rolls back then); at ``deadline_s`` it gets SIGINT (which
    rolls back too) and a bounded wait. Returns its operator scorecard entry and the end of its output."""
    command = [
        sys.executable,
        "-c",
        "import sys; from offgridflow_runbook.cli import main; sys.exit(main(sys.argv[1:]))",
        *("gameday", "--operator", "--target", target, "--fault", mode, "--port", "0"),
        *("--sla-share", str(sla_share), "--deadline", str(deadline_s - rollback_margin_s)),
        *("--reports", str(stage.reports)),
    ]
    desk = stage.desk
    process = subprocess.Popen(
        command,
        cwd=project_root(),
        env=stage.environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    end = time.monotonic() + deadline_s
    try:
        while process.poll() is None and time.monotonic() < end:
            running = desk.running()
            if running is not None and running.get("view"):
                try:
                    state = httpx.get(str(running["view"]) + "state.json", timeout=5).json()
                except (httpx.HTTPError, ValueError):
                    state = None
                if state is not None:
                    operator.step(state, time.time())
            time.sleep(poll_s)
    finally:
        # at the deadline, and also when the scripted operator itself failed: SIGINT, which rolls the
        # fault back, and a bounded wait; SIGKILL only after that (a killed game day leaves its fault)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=ROLLBACK_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate(timeout=30)
    output = stdout[-4000:] + stderr[-2000:]
    assert (stage.reports / "scorecard.json").is_file(), f"the game day wrote no scorecard:\n{output}"
    card = json.loads((stage.reports / "scorecard.json").read_text())
    [score] = [s for s in card["operator"] if (s["mode"], s["target"]) == (mode, target)]
    return score, output


def assert_phases_in_order(score: dict[str, Any]) -> None:
    """Every phase reached, in the order the phases come."""
    reached = [score["reached_s"][phase] for phase in PHASES]
    assert None not in reached, score["reached_s"]
    assert reached == sorted(reached), score["reached_s"]
