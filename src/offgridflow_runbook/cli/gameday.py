"""``offgridflow-runbook gameday``: the operator game day, and what the people in the room say to it.

``gameday --operator --target T --fault MODE|random [--unannounced] [--sla-share 0.8]`` injects the
fault through the chaos fault activities (guard, identity check, fault ledger), then only watches:
phases, budgets, the live view on 127.0.0.1, the safety net. Exit 0 passed, 1 missed or aborted.

``gameday ack``, ``gameday call "Fix 2"``, ``gameday note "..."``, ``gameday abort`` talk to the
running game day through its state directory (``.state/operator/``). The automated game day is
``make gameday``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from typing import Any

from offgridflow_runbook.cli.options import (
    UsageError,
    add_runbook_option,
    add_target_options,
    non_empty_path,
    number_in,
    port_in,
    quoted,
    target_from,
)
from offgridflow_runbook.reporting import printable

EXIT_MISSED = 1
_SAYINGS = ("ack", "call", "note", "abort")
_ABORT_WAIT_S = 600.0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "gameday",
        help="the operator game day: inject a fault, then time the people's response against the runbook",
        description="With --operator: inject one failure mode through the chaos fault activities, then only "
        "watch: the page, the operators' ack and calls, the fix seen on the target, Verification 1-5, each "
        "against the runbook's budgets; the suite applies the fix itself at --sla-share of the SLA (scored "
        "missed). Without it: ack, call SECTION, note TEXT or abort, said to the running game day.",
    )
    parser.add_argument("saying", nargs="?", choices=_SAYINGS, help="what to tell the running game day")
    parser.add_argument("text", nargs="?", default="", help="the section called, or the note")
    parser.add_argument("--operator", action="store_true", help="start an operator game day")
    parser.add_argument("--fault", default=None, help="the failure mode (chaos/experiments), or random")
    parser.add_argument("--unannounced", action="store_true", help="never print which fault until the end")
    parser.add_argument(
        "--sla-share",
        type=number_in(0.01, 1.0, "a share of the SLA"),
        default=0.8,
        help="the safety net fixes the fault at this share of the runbook's SLA (default: 0.8)",
    )
    parser.add_argument(
        "--port", type=port_in(0), default=8765, help="the live view's port on 127.0.0.1 (0: any)"
    )
    parser.add_argument(
        "--deadline",
        type=number_in(10, 86400, "seconds"),
        default=1800.0,
        help="roll back if nothing is verified this long after the fault (default: 1800)",
    )
    parser.add_argument("--experiments", type=non_empty_path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--reports",
        type=non_empty_path,
        default=None,
        help="where the operator scorecard, post-incident records and proposals go "
        "(default: reports/gameday/operator)",
    )
    add_target_options(parser)
    add_runbook_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.saying:
        if args.operator:
            raise UsageError(f"`gameday {args.saying}` talks to a running game day; drop --operator")
        return _say(args)
    if not args.operator:
        raise UsageError(
            "the automated game day is `make gameday`; `gameday --operator --target T --fault MODE` starts "
            "an operator game day, `gameday ack|call|note|abort` talks to one"
        )
    return _operator(args)


def _say(args: argparse.Namespace) -> int:
    from offgridflow_runbook.operator.desk import Desk, DeskError
    from offgridflow_runbook.runbook.document import load_runbook

    desk = Desk()
    text = args.text
    if args.saying == "call":
        sections = {step.id.casefold(): step.id for step in load_runbook(args.runbook).steps}
        if text.strip().casefold() not in sections:
            raise UsageError(f"call a runbook section ({', '.join(sections.values())}), not {quoted(text)}")
        text = sections[text.strip().casefold()]
    running = desk.running()
    if args.saying == "abort" and running is not None and not _alive(running.get("pid")):
        return _abort_orphan(desk, running)
    try:
        desk.send(args.saying, text)
    except DeskError as error:
        raise UsageError(str(error)) from None
    print(f"told the game day: {args.saying} {printable(text, newlines=False)}".rstrip())
    if args.saying == "abort":
        deadline = time.monotonic() + _ABORT_WAIT_S
        while desk.running() is not None and time.monotonic() < deadline:
            time.sleep(1.0)
        print("rolled back" if desk.running() is None else "the game day has not ended yet; see its terminal")
    return 0


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except (OSError, ValueError, TypeError):
        return False
    return True


def _abort_orphan(desk: Any, running: dict[str, Any]) -> int:
    """The game day's process is gone: restore its fault from the ledger here, then close the desk."""
    from offgridflow_runbook.restore import restore
    from offgridflow_runbook.targets import TargetError, read_resolved_target

    try:
        target = read_resolved_target(str(running["resolved_target"]), str(running["fingerprint"]))
    except (KeyError, TargetError) as error:
        raise UsageError(
            f"the game day's process is gone and its target cannot be read ({error}); "
            "run `offgridflow-runbook restore --target T`"
        ) from None
    report = restore(target, say=lambda line: print(line, file=sys.stderr))
    for line in report.lines():
        print(line)
    desk.close()
    return report.exit_code


def _operator(args: argparse.Namespace) -> int:
    from chaoslib.exceptions import ActivityFailed

    from offgridflow_runbook.gameday.error_budget import budget_burned, experiment_error_budget
    from offgridflow_runbook.gameday.modes import ModeError, modes_by_name
    from offgridflow_runbook.gameday.scorecard import BUDGET_HEADINGS
    from offgridflow_runbook.ledger import Ledger
    from offgridflow_runbook.operator.desk import Desk, DeskError
    from offgridflow_runbook.operator.record import OPERATOR_REPORTS, automated_figures, write_record
    from offgridflow_runbook.operator.session import OperatorGameDay, Settings, live_hooks
    from offgridflow_runbook.operator.view import ACK_KEY, LiveView
    from offgridflow_runbook.proofs import Proof, record_proof, steps_proven_by
    from offgridflow_runbook.runbook.document import load_runbook
    from offgridflow_runbook.targets import ChaosNotAllowed, require_chaos_allowed, target_fingerprint

    target = target_from(args)
    try:
        modes = {name: m for name, m in modes_by_name(args.experiments).items() if m.runs_on(target.platform)}
    except ModeError as error:
        raise UsageError(str(error)) from None
    if not args.fault:
        raise UsageError(f"--fault: one of {', '.join(modes)} or random")
    if args.fault == "random":
        mode = modes[random.SystemRandom().choice(sorted(modes))]
    elif args.fault in modes:
        mode = modes[args.fault]
    else:
        raise UsageError(
            f"--fault {quoted(args.fault)}: on {target.platform} one of {', '.join(modes)} or random"
        )
    try:
        require_chaos_allowed(target)
    except ChaosNotAllowed as error:
        raise UsageError(str(error)) from None
    if Ledger().entries(target.name):
        raise UsageError(
            f"target {target.name!r} has open fault ledger entries; "
            "`offgridflow-runbook restore --target T` first"
        )
    runbook = load_runbook(args.runbook)
    budgets = {name: runbook.budget(heading) for name, heading in BUDGET_HEADINGS.items()}
    reports = OPERATOR_REPORTS if args.reports is None else args.reports
    run_dir = reports / "runs" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    desk = Desk()
    hooks = live_hooks(mode, target, run_dir, desk)
    settings = Settings(
        sla_s=runbook.sla_s,
        budgets_s=budgets,
        sla_share=args.sla_share,
        page_names=mode.must_fire.get(target.platform, ()),
        deadline_s=args.deadline,
        announce=not args.unannounced,
        automated=automated_figures(mode.name),
        headings=dict(BUDGET_HEADINGS),
    )
    game = OperatorGameDay(mode, target.name, settings, hooks)
    try:
        # the page's ack is the command line's: the same desk, the same ``send("ack")``
        view = LiveView(game.view, port=args.port, ack=lambda: desk.send("ack"))
    except OSError as error:
        raise UsageError(
            f"the live view cannot listen on 127.0.0.1:{args.port} ({error}); try --port 0"
        ) from None
    opened = False
    try:
        with view:
            desk.open(
                {
                    "target": target.name,
                    "pid": os.getpid(),
                    "view": view.url,
                    "resolved_target": str(run_dir / "target.json"),
                    "fingerprint": target_fingerprint(target),
                    "announced": not args.unannounced,
                }
            )
            opened = True
            print(
                f"live view: {view.url}  (ack there with the key {ACK_KEY!r} or the button; "
                "offgridflow-runbook gameday ack | call SECTION | note TEXT | abort)"
            )
            try:
                game.play()
            except ActivityFailed as error:
                game.abort(f"the fault could not be applied ({printable(str(error), newlines=False)})")
    except DeskError as error:
        raise UsageError(str(error)) from None
    finally:
        if opened:  # never the desk of another game day that refused this one
            desk.close()
    score = game.run.score(budgets, runbook.sla_s, time.time(), settings.automated)
    run = game.run
    score["error_budget"] = experiment_error_budget(
        target.prometheus_url,
        run.fault_at,
        run.verified_at,
        run.aborted_at,
        ended="the abort",
        runbook=runbook,
    ).as_dict()
    written = write_record(score, reports)
    if score["outcome"] == "passed":
        record_proof(
            Proof(
                time.time(),
                target.name,
                target.platform,
                "operator",
                mode.name,
                steps_proven_by(runbook, mode.fix),
            )
        )
    print(
        f"{score['outcome']}: {mode.name} (fixed by {mode.fix}) on {target.name}; "
        f"outage {score['outage_s']} s of the SLA's {runbook.sla_s:.0f} s; "
        f"error budget {budget_burned(score['error_budget'])}; record {written['postmortem']}"
    )
    return 0 if score["outcome"] == "passed" else EXIT_MISSED
