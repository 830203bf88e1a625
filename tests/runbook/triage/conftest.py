from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from helpers.local_http import serving
from helpers.triage_fakes import TOKEN, rules_file


@pytest.fixture(autouse=True)
def unit_token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("UNIT_TEST_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return rules_file(tmp_path)


_CORPUS = pytest.StashKey[list[tuple[str, bool, str]]]()


@pytest.fixture
def corpus_results(request: pytest.FixtureRequest) -> list[tuple[str, bool, str]]:
    """Where the corpus tests put (scenario, right, what happened) for the accuracy line."""
    return request.config.stash.setdefault(_CORPUS, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    results = config.stash.get(_CORPUS, [])
    if not results:
        return
    right = sum(1 for _, ok, _ in results if ok)
    terminalreporter.write_sep("-", "triage scenario corpus")
    terminalreporter.write_line(
        f"triage accuracy: {right}/{len(results)} scenarios right ({100 * right / len(results):.0f}%)"
    )
    for name, ok, what in results:
        if not ok:
            terminalreporter.write_line(f"  wrong: {name}: {what}")


class _HealthyApi(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "healthy"} if self.path == "/health/ready" else {"status": "alive"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def api_answering() -> Iterator[str]:
    """A stand-in API on 127.0.0.1 whose health endpoints answer healthy (its base URL)."""
    with serving(_HealthyApi) as url:
        yield url
