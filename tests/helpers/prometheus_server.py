"""A throw-away Prometheus for the tests: on a free port of 127.0.0.1, on a directory's
``prometheus.yml`` and ``data``, optionally on samples backfilled with ``promtool`` (so a test can
ask about a past it wrote itself); stopped on leaving. Every wait is bounded."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from offgridflow_runbook.probes.prometheus import PrometheusProbe

__all__ = ["PROMETHEUS", "PROMTOOL", "backfill", "free_port", "throwaway_prometheus", "until"]

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise TimeoutError(f"{what} not reached within {seconds}s")


def backfill(directory: Path, lines: Sequence[str]) -> None:
    """Write OpenMetrics ``lines`` (``# TYPE``s and samples, without ``# EOF``) as TSDB blocks into
    ``directory``/data, as ``promtool tsdb create-blocks-from openmetrics`` does."""
    assert PROMTOOL is not None
    source = directory / "backfill.om"
    source.write_text("\n".join([*lines, "# EOF", ""]), encoding="utf-8")
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(directory / "data")],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@contextmanager
def throwaway_prometheus(
    directory: Path, ready_when: str, what: str, flags: Sequence[str] = ()
) -> Iterator[str]:
    """A Prometheus on ``directory``/prometheus.yml and ``directory``/data, with ``flags`` besides,
    up once ``ready_when`` (an expression) has a sample; stopped on leaving."""
    assert PROMETHEUS is not None
    port = free_port()
    with (directory / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={directory / 'prometheus.yml'}",
             f"--storage.tsdb.path={directory / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
             *flags],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            with PrometheusProbe(url) as probe:

                def ready() -> bool:
                    try:
                        return bool(probe.query(ready_when))
                    except Exception:
                        return False

                until(ready, 30, what)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=15)
