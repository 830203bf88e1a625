"""``offgridflow-runbook monitor``: the runbook's read-only checks on a fixed interval, as Prometheus
metrics per runbook step (``/metrics``) with ``/healthz``; ``--once`` for a scheduler.

Exit status: 0 stopped cleanly (SIGTERM/SIGINT) or, with ``--once``, every step passed; 1 with
``--once`` when a step failed; 64 a usage error; 69 the listen address cannot be bound; 73 the
``--metrics-file`` cannot be written.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from offgridflow_runbook.cli.diagnose import duration
from offgridflow_runbook.cli.options import (
    OutputError,
    UsageError,
    add_target_options,
    non_empty_path,
    target_from,
)
from offgridflow_runbook.files import replace_user_text

EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: the address to listen on is taken or not ours
DEFAULT_LISTEN = "127.0.0.1:9097"


def _listen(text: str) -> tuple[str, int]:
    from offgridflow_runbook.monitor.server import parse_listen

    try:
        return parse_listen(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "monitor",
        help="run the read-only checks (Triage 1, Verification 1-5) on an interval and serve them as metrics",
        description="Looks at the target every --every (read-only: never writes, whatever the target "
        "allows) and serves offgridflow_synthetic_step_success{target,step} and friends on "
        "http://LISTEN/metrics, /healthz beside it. Runs never overlap; SIGTERM or SIGINT stops it "
        "cleanly. --once runs the checks once and exits 0 (all passed) or 1.",
    )
    add_target_options(parser)
    parser.add_argument(
        "--every", type=duration, default=duration("60s"), help="the interval between runs (default: 60s)"
    )
    parser.add_argument(
        "--listen",
        type=_listen,
        default=DEFAULT_LISTEN,
        help=f"HOST:PORT for /metrics and /healthz (default: {DEFAULT_LISTEN}; 0.0.0.0:PORT in a pod)",
    )
    parser.add_argument("--once", action="store_true", help="run once, print each step, exit 0 or 1")
    parser.add_argument(
        "--metrics-file",
        type=non_empty_path,
        default=None,
        help="with --once: also write the metrics there (for node_exporter's textfile collector)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from offgridflow_runbook.monitor.service import Monitor

    if args.metrics_file is not None and not args.once:
        # without --once the metrics are served, never written: the file would be silently left alone
        raise UsageError("--metrics-file is written with --once only; add --once or drop it")
    target = target_from(args)
    monitor = Monitor(target, args.every.total_seconds())
    if args.once:
        result = monitor.run_once()
        for step in result.steps:
            outcome = "skipped" if step.skipped else "passed" if step.success else "failed"
            print(monitor.redact(f"{step.step} {outcome}: {step.message}"))
        print(f"run {'passed' if result.success else 'failed'} in {result.duration_s:.2f}s")
        if args.metrics_file is not None:
            try:
                # whole or not at all: node_exporter may read the file while it is written
                replace_user_text(args.metrics_file, monitor.state.render())
            except OSError as error:
                raise OutputError(
                    f"--metrics-file {args.metrics_file}: cannot write: {error.strerror or error}"
                ) from None
        return 0 if result.success else 1
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        monitor.serve(args.listen, stop)
    except OSError as error:
        host, port = args.listen
        shown = f"[{host}]" if ":" in host else host
        print(
            f"offgridflow-runbook: error: cannot listen on {shown}:{port}: {error.strerror or error}",
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
