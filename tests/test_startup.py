"""The command's start-up: httpx's own command-line client is not imported until it is used."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_the_command_imports_httpx_without_its_command_line_client() -> None:
    loaded = run(
        "import sys, offgridflow_runbook.cli as cli; cli.build_parser(); import httpx;"
        "print('httpx' in sys.modules, 'click' in sys.modules, 'rich' in sys.modules)"
    )
    assert loaded == "True False False"


def test_httpx_main_still_loads_the_real_client_when_called() -> None:
    # `httpx --help` through the stand-in: the real client answers (and exits 0)
    out = run(
        "import sys, offgridflow_runbook.cli, httpx\n"
        "sys.argv = ['httpx', '--help']\n"
        "try:\n    httpx.main()\nexcept SystemExit as e:\n    print('exit', e.code)"
    )
    assert "Usage: httpx" in out
    assert out.endswith("exit 0")


# Not needed by `diagnose` on a healthy docker target, each loaded where it is used: the runbook's parser
# (only when a diagnosis shows commands), coverage and drift (their own subcommands), the record file
# (--record/--from-record), the Kubernetes client, and what only checks, chaos and game days use.
NOT_FOR_DIAGNOSE = (
    "offgridflow_runbook.runbook.document",
    "offgridflow_runbook.coverage",
    "offgridflow_runbook.runbook.drift",
    "offgridflow_runbook.probes.record",
    "offgridflow_runbook.platforms.kubernetes.driver",
    "kubernetes",
    "chaoslib",
    "matplotlib",
    "pytest",
)


def test_the_diagnose_command_does_not_import_what_a_healthy_diagnosis_does_not_need() -> None:
    loaded = run(
        "import sys, offgridflow_runbook.cli as cli, offgridflow_runbook.cli.diagnose; cli.build_parser()\n"
        f"print(sorted(name for name in {NOT_FOR_DIAGNOSE!r} if name in sys.modules))"
    )
    assert loaded == "[]"


def test_the_runbook_package_still_gives_its_parser_on_first_use() -> None:
    loaded = run(
        "import sys\nfrom offgridflow_runbook.runbook import RunbookError, document, load_runbook\n"
        "print(load_runbook is document.load_runbook, RunbookError is document.RunbookError)"
    )
    assert loaded == "True True"


def test_every_http_client_shares_one_verifying_ssl_context() -> None:
    # the CA bundle is loaded once per process, not once per client; verification is httpx's default
    loaded = run(
        "import ssl, httpx\n"
        "from offgridflow_runbook.probes import ApiProbe, PrometheusProbe\n"
        "from offgridflow_runbook.probes.http import shared_ssl_context\n"
        "from offgridflow_runbook.targets import Target\n"
        "built = []\n"
        "original = ssl.create_default_context\n"
        "ssl.create_default_context = lambda *a, **k: built.append(1) or original(*a, **k)\n"
        "target = Target(name='t', platform='none', base_url='https://127.0.0.1:9')\n"
        "clients = [ApiProbe(target), ApiProbe(target), PrometheusProbe('https://127.0.0.1:9')]\n"
        "context, default = shared_ssl_context(), httpx.create_ssl_context()\n"
        "print(len(built), context.verify_mode is ssl.CERT_REQUIRED, context.check_hostname,"
        " context.cert_store_stats() == default.cert_store_stats())"
    )
    assert loaded == "2 True True True"  # one for all the clients, one for httpx's default to compare


def test_the_probes_import_no_httpcore_until_a_client_is_made() -> None:
    # `offgridflow-runbook check` imports the probes, then runs pytest in-process: anyio (under
    # httpcore) imported before pytest marks its plugin for assertion rewriting is a warning, and the
    # checks turn every warning into an error
    loaded = run(
        "import sys, offgridflow_runbook.cli, offgridflow_runbook.probes.snapshot\n"
        "before = sorted(name for name in ('httpcore', 'anyio') if name in sys.modules)\n"
        "from offgridflow_runbook.probes.http import http_client\n"
        "http_client(timeout=1).close()\n"
        "print(before, 'httpcore' in sys.modules)"
    )
    assert loaded == "[] True"


def test_the_docker_platforms_reads_import_no_docker_sdk() -> None:
    # a check run reads the engine's API with httpx: the SDK (and requests) were 0.1 s of each run
    loaded = run(
        "import sys, offgridflow_runbook.pytest_plugin\n"
        "from offgridflow_runbook.platforms.docker import driver, health, observe, usage\n"
        "print(sorted(name for name in ('docker', 'requests', 'urllib3') if name in sys.modules))"
    )
    assert loaded == "[]"
