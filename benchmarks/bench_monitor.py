"""What the synthetic monitor costs: CPU and memory of the process and the requests it sends (a script,
not a test).

    .venv/bin/python benchmarks/bench_monitor.py               # 40 runs, one a second, on a fake target
    .venv/bin/python benchmarks/bench_monitor.py --runs 100

Starts the real ``offgridflow-runbook monitor`` in a subprocess against the fake API and Prometheus of
tests/helpers/monitor_fakes.py on 127.0.0.1 (platform ``none``: the Docker or Kubernetes reads of
Verification 1 are not in these figures), at an interval of 1 s so that many runs fit in a short
measurement, scraping /metrics like Prometheus. It prints the CPU time per run and the requests per
run, read from /proc and from the fake's own count, and what they make at the default 60 s interval.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from helpers.monitor_fakes import TOKEN, TOKEN_ENV, Recorder, fake_target, write_targets  # noqa: E402

COMMAND = "import sys; from offgridflow_runbook.cli import main; sys.exit(main())"
DEFAULT_INTERVAL_S = 60


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of the process, in KiB."""
    found = re.search(rf"^{field}:\s+(\d+) kB$", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(found.group(1)) if found else -1


def runs_done(url: str) -> int:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(
        int(value) for value in re.findall(r"^offgridflow_synthetic_runs_total\{[^}]*\} (\d+)$", text, re.M)
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=40, help="runs to measure (default 40)")
    args = parser.parse_args()
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as folder, fake_target(recorder) as api:
        targets = write_targets(Path(folder) / "targets.yaml", api)
        env = {**os.environ, TOKEN_ENV: TOKEN, "PYTHONPATH": str(ROOT / "src")}
        argv = ["monitor", "--target", "fake", "--targets-file", str(targets), "--every", "1s"]
        with subprocess.Popen(
            [sys.executable, "-c", COMMAND, *argv, "--listen", "127.0.0.1:0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        ) as process:
            assert process.stderr is not None
            url = None
            deadline = time.monotonic() + 30
            while url is None and time.monotonic() < deadline:
                line = process.stderr.readline()
                if found := re.search(r'"url": "([^"]+)"', line):
                    url = found.group(1)
            if url is None:
                process.kill()
                print("the monitor did not start", file=sys.stderr)
                return 1
            # the log line per run is not read from here on: send it nowhere
            drain = subprocess.Popen(["cat"], stdin=process.stderr, stdout=subprocess.DEVNULL)
            while runs_done(url) < 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            idle_rss = memory_kib(process.pid, "VmRSS")
            cpu_before, runs_before, requests_before = (
                cpu_seconds(process.pid),
                runs_done(url),
                len(recorder.requests),
            )
            started = time.monotonic()
            limit = started + args.runs * 3 + 30
            while runs_done(url) < runs_before + args.runs and time.monotonic() < limit:
                time.sleep(1)  # a scrape a second: more often than Prometheus's 15 s
            elapsed = time.monotonic() - started
            runs = runs_done(url) - runs_before
            cpu = cpu_seconds(process.pid) - cpu_before
            requests = len(recorder.requests) - requests_before
            rss, peak = memory_kib(process.pid, "VmRSS"), memory_kib(process.pid, "VmHWM")
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
            drain.wait(timeout=10)
    if runs == 0:
        print("no run finished", file=sys.stderr)
        return 1
    per_run_cpu = cpu / runs
    per_run_requests = requests / runs
    read_only = recorder.methods <= {"GET", "HEAD"}
    at_default = f"at --every {DEFAULT_INTERVAL_S}s:"
    print(f"{'runs measured:':<30}{runs} in {elapsed:.1f} s (interval 1 s)")
    print(f"{'CPU per run (and scrapes):':<30}{1000 * per_run_cpu:.1f} ms")
    print(f"{'requests per run:':<30}{per_run_requests:.1f} (GET/HEAD only: {read_only})")
    print(
        f"{'memory (RSS):':<30}{rss / 1024:.1f} MiB (first run {idle_rss / 1024:.1f}), peak {peak / 1024:.1f}"
    )
    print(
        f"{at_default:<30}{per_run_requests * 60 / DEFAULT_INTERVAL_S:.0f} requests/minute, "
        f"{1000 * per_run_cpu / DEFAULT_INTERVAL_S:.2f} millicores of CPU on average"
    )
    print(f"{'exit status after SIGTERM:':<30}{code}")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
