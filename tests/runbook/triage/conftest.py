from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from helpers.local_http import serving
from helpers.triage_corpus import figure_lines
from helpers.triage_fakes import TOKEN, rules_file


@pytest.fixture(autouse=True)
def unit_token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("UNIT_TEST_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    return rules_file(tmp_path)


# (scenario, origin, what is wrong or "", the label's verdict, triage's verdict) per figure
_CORPUS = pytest.StashKey[dict[str, list[tuple[str, ...]]]]()


@pytest.fixture
def corpus_results(request: pytest.FixtureRequest) -> dict[str, list[tuple[str, ...]]]:
    """Where the corpus tests put their results for the two figures (``accuracy``, ``regression``)."""
    return request.config.stash.setdefault(_CORPUS, {"accuracy": [], "regression": [], "retaken": []})


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    results = config.stash.get(_CORPUS, {})
    lines = figure_lines(
        results.get("accuracy", []), results.get("regression", []), results.get("retaken", [])
    )
    if lines:
        terminalreporter.write_sep("-", "triage scenario corpus")
        for line in lines:
            terminalreporter.write_line(line)


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
