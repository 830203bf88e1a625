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


# (scenario, origin, what is wrong or "", the label's verdict, triage's verdict) per figure
_CORPUS = pytest.StashKey[dict[str, list[tuple[str, ...]]]]()


@pytest.fixture
def corpus_results(request: pytest.FixtureRequest) -> dict[str, list[tuple[str, ...]]]:
    """Where the corpus tests put their results for the two figures (``accuracy``, ``regression``)."""
    return request.config.stash.setdefault(_CORPUS, {"accuracy": [], "regression": [], "retaken": []})


def _figure(results: list[tuple[str, ...]]) -> str:
    right = sum(1 for result in results if not result[2])
    return f"{right}/{len(results)} ({100 * right / len(results):.0f}%)" if results else "0/0"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    results = config.stash.get(_CORPUS, {"accuracy": [], "regression": []})
    accuracy, regression = results["accuracy"], results["regression"]
    if not accuracy and not regression:
        return
    terminalreporter.write_sep("-", "triage scenario corpus")
    if accuracy:
        by_origin = ", ".join(
            f"{origin} {_figure([r for r in accuracy if r[1] == origin])}"
            for origin in sorted({r[1] for r in accuracy})
        )
        terminalreporter.write_line(
            f"triage accuracy against the fault labels: {_figure(accuracy)} real recordings right "
            f"({by_origin})"
        )
        for name, _origin, wrong, labelled, verdict in accuracy:
            if wrong:
                terminalreporter.write_line(f"  miss: {name}: label {labelled}, verdict {verdict}")
        if retaken := results.get("retaken", []):
            terminalreporter.write_line(
                f"  ({len(retaken)} of them kept by an older recorder that looked again until triage "
                "agreed: a first look that disagreed may be missing)"
            )
    if regression:
        terminalreporter.write_line(
            f"triage regression set: {_figure(regression)} recordings give their expected verdict"
        )
        for name, _origin, wrong, _labelled, verdict in regression:
            if wrong:
                terminalreporter.write_line(f"  wrong: {name}: {wrong} (verdict {verdict})")


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
