"""Shared fixtures: a real PostgreSQL 15 and the real `offgridflow-api` process, both on 127.0.0.1.

`postgres_server` (session): a throw-away cluster made with initdb/pg_ctl on a free port; `stop()` and
`start()` take it down and bring it back on the same port. `api_factory` starts the console script
from this virtualenv against that database; `api_server` is one healthy instance shared by a module.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# httpcore before any pytester run in this process: httpx imports it on a client's first transport
# and keeps its exception classes for mapping. Imported first inside an in-process pytester run, it
# would leave sys.modules when that run ends (pytester restores the module table), the next client
# would import a second copy, and httpx would no longer recognise its exceptions: a refused connection
# would escape as httpcore.ConnectError instead of httpx.ConnectError (seen when tests/pytest_plugin
# ran before tests/probes).
import httpcore  # noqa: F401
import httpx
import pytest

from helpers.runbook_copies import edited
from offgridflow_runbook.runbook import Runbook, parse_runbook

PG_BIN = Path("/usr/lib/postgresql/15/bin")
API_SCRIPT = Path(sys.executable).with_name("offgridflow-api")
STARTUP_DEADLINE_SECONDS = 20.0

# CI=true or --fail-on-unexpected-skip: a skip not in tests/expected-skips.txt fails the run.
pytest_plugins = ["helpers.skip_policy"]


def pytest_addoption(parser: pytest.Parser) -> None:
    # Only the suite's own kind and e2e tests use these, so the shipped plugin does not register them.
    group = parser.getgroup("offgridflow")
    group.addoption(
        "--keep-cluster",
        action="store_true",
        default=False,
        help="keep the kind cluster / local stack the session started, for the next run",
    )
    group.addoption("--kind-bin", default=None, help="the kind binary to use (never downloaded)")


def pytest_configure(config: pytest.Config) -> None:
    # Started as a scheduler starts it (a background job of a shell without job control, nohup), the
    # run inherits SIGINT ignored, and so would every process its tests start: a test that sends one
    # SIGINT (Ctrl-C on the gate, the game day's halt) would wait in vain, and test-tiers' forwarded
    # Ctrl-C would not stop the tier. A test run is interactive by nature: SIGINT interrupts it, and
    # the processes it starts get SIGINT's default, as from a terminal.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres_user(argv: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; drop to the system account that owns the data dir.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *argv]
    return argv


@dataclass
class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, reachable on 127.0.0.1:`port`."""

    root: Path
    port: int
    dbname: str = "offgridflow"
    user: str = "offgridflow"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    host: str = "127.0.0.1"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def _run(self, argv: list[str], timeout: float = 60.0) -> None:
        result = subprocess.run(
            _as_postgres_user(argv), capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({result.returncode}): {result.stderr.strip()}")

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres", group="postgres")
        self._run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
            ]
        )
        self.start()
        self._psql_as_superuser(f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'")
        self._psql_as_superuser(f"CREATE DATABASE {self.dbname} OWNER {self.user}")

    def _psql_as_superuser(self, sql: str) -> None:
        self._run(
            [
                str(PG_BIN / "psql"),
                "-h",
                str(self.root),
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ]
        )

    def start(self) -> None:
        """Start (or restart) the server on the same port; returns once it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=on -c full_page_writes=off"
        )
        self._run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-o",
                options,
                "-w",
                "-t",
                "30",
                "start",
            ]
        )

    def stop(self, mode: str = "immediate") -> None:
        """Take the server down; `immediate` is the abrupt end of a killed database."""
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "-t", "30", "stop"])

    def _server_pids(self) -> list[int]:
        postmaster = int((self.data_dir / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                # the command may contain spaces; the fields after its closing parenthesis do not
                fields = stat.read_text().rpartition(")")[2].split()
                if int(fields[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open but nothing answers, like a hung host."""
        for pid in self._server_pids():
            os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in self._server_pids():
            os.kill(pid, signal.SIGCONT)

    def is_running(self) -> bool:
        result = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", self.host, "-p", str(self.port), "-t", "1"],
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def ensure_running(self) -> None:
        if not self.is_running():
            self.start()

    @property
    def conninfo(self) -> str:
        return (
            f"host={self.host} port={self.port} dbname={self.dbname}"
            f" user={self.user} password={self.password}"
        )


def _postgres_unavailable_reason() -> str | None:
    for tool in ("initdb", "pg_ctl", "postgres", "pg_isready"):
        if not (PG_BIN / tool).exists():
            return (
                f"PostgreSQL 15 binaries missing: {PG_BIN / tool} not found (apt-get install postgresql-15)"
            )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root but `runuser` is missing, and initdb refuses to run as root"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15 on 127.0.0.1 (free port), database and user `offgridflow`."""
    reason = _postgres_unavailable_reason()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="offgridflow-pg-"))
    server = PostgresServer(root=root, port=free_port())
    try:
        server.init()
        yield server
    finally:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            if server.data_dir.exists():
                server.stop("fast")
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class ApiProcess:
    """A running `offgridflow-api` process and how to reach it."""

    process: subprocess.Popen[bytes]
    http_port: int
    metrics_port: int
    token: str
    log_path: Path
    env: Mapping[str, str]

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def logs(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def wait_exit(self, timeout: float = 15.0) -> int:
        return self.process.wait(timeout=timeout)

    def wait_live(self, deadline_seconds: float = STARTUP_DEADLINE_SECONDS) -> None:
        self._wait_for("/health/live", 200, deadline_seconds)

    def wait_ready(self, deadline_seconds: float = STARTUP_DEADLINE_SECONDS) -> None:
        self._wait_for("/health/ready", 200, deadline_seconds)

    def _wait_for(self, path: str, status: int, deadline_seconds: float) -> None:
        deadline = time.monotonic() + deadline_seconds
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"offgridflow-api exited with {self.process.returncode}:\n{self.logs}")
            try:
                answer = httpx.get(self.base_url + path, timeout=1.0)
                if answer.status_code == status:
                    return
                last = f"{answer.status_code} {answer.text}"
            except httpx.HTTPError as error:
                last = repr(error)
            time.sleep(0.1)
        raise TimeoutError(f"{path} did not answer {status} within {deadline_seconds}s (last: {last})")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not end in `timeout` seconds; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout)
        return self.process.returncode


ApiFactory = Callable[..., ApiProcess]


def api_environment(
    postgres: PostgresServer, http_port: int, metrics_port: int, token: str, overrides: Mapping[str, str]
) -> dict[str, str]:
    """The process environment for one service instance: no inherited OFFGRIDFLOW_* settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("OFFGRIDFLOW_")}
    env.update(
        {
            "OFFGRIDFLOW_BIND": "127.0.0.1",
            "OFFGRIDFLOW_HTTP_PORT": str(http_port),
            "OFFGRIDFLOW_METRICS_PORT": str(metrics_port),
            "OFFGRIDFLOW_DATABASE_HOST": postgres.host,
            "OFFGRIDFLOW_DATABASE_PORT": str(postgres.port),
            "OFFGRIDFLOW_DATABASE_NAME": postgres.dbname,
            "OFFGRIDFLOW_DATABASE_USER": postgres.user,
            "OFFGRIDFLOW_DATABASE_PASSWORD": postgres.password,
            "OFFGRIDFLOW_API_TOKENS": token,
        }
    )
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def api_factory(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiFactory]:
    """Start `offgridflow-api` processes: `api_factory(env={...}, wait="live"|"ready"|None)`.

    Every process started is stopped at the end of the session.
    """
    if not API_SCRIPT.exists():
        pytest.skip(
            f"console script {API_SCRIPT} not found: install the project (pip install -e '.[service]')"
        )
    started: list[ApiProcess] = []
    log_dir = tmp_path_factory.mktemp("api-logs")

    def start(env: Mapping[str, str] | None = None, wait: str | None = "live") -> ApiProcess:
        http_port, metrics_port = free_port(), free_port()
        token = "t-" + secrets.token_urlsafe(16)
        full_env = api_environment(postgres_server, http_port, metrics_port, token, env or {})
        # an override of a port or of the tokens is what the handle must report
        with contextlib.suppress(ValueError):
            http_port = int(full_env["OFFGRIDFLOW_HTTP_PORT"])
        with contextlib.suppress(ValueError):
            metrics_port = int(full_env["OFFGRIDFLOW_METRICS_PORT"])
        token = full_env["OFFGRIDFLOW_API_TOKENS"].split(",")[0].strip()
        log_path = log_dir / f"api-{len(started)}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                [str(API_SCRIPT)], env=full_env, stdout=log_file, stderr=subprocess.STDOUT
            )
        api = ApiProcess(process, http_port, metrics_port, token, log_path, full_env)
        started.append(api)
        if wait == "live":
            api.wait_live()
        elif wait == "ready":
            api.wait_ready()
        return api

    yield start
    for api in started:
        api.stop()


@pytest.fixture(scope="module")
def api_server(api_factory: ApiFactory, postgres_server: PostgresServer) -> Iterator[ApiProcess]:
    """One healthy service instance (ready: database reachable, schema created)."""
    postgres_server.ensure_running()
    api = api_factory(wait="ready")
    yield api
    api.stop()


@pytest.fixture(autouse=True)
def private_fault_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes its fault ledger entries under its own directory, never the project's
    ``.state/ledger`` (which a real open fault may hold)."""
    directory = tmp_path / "fault-ledger"
    monkeypatch.setenv("OFFGRIDFLOW_LEDGER_DIR", str(directory))
    return directory


@pytest.fixture
def runbook_copy(tmp_path: Path) -> Callable[[str, str], Runbook]:
    """A parsed copy of the runbook with one edit, written to ``tmp_path/runbook.md``."""

    def make(old: str, new: str) -> Runbook:
        path = tmp_path / "runbook.md"
        path.write_text(edited(old, new), encoding="utf-8")
        return parse_runbook(path.read_text(encoding="utf-8"), path)

    return make
