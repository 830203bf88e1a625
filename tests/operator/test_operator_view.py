"""The live view: what it shows, escaped, served on 127.0.0.1, and seen in a real headless browser
(Debian's chromium) at two moments of a run with a fake target and clock."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.headless_chromium import CHROMIUM_FLAGS, Chromium, chromium_path
from helpers.local_http import serving
from helpers.operator_fakes import ChangingPlatform, FakeClock, World, open_desk
from offgridflow_runbook.gameday.modes import modes_by_name
from offgridflow_runbook.gameday.scorecard import BUDGET_HEADINGS
from offgridflow_runbook.operator.session import OperatorGameDay, Settings
from offgridflow_runbook.operator.view import ACK_KEY, LiveView, render_page
from offgridflow_runbook.runbook.document import load_runbook

RUNBOOK = load_runbook()
BUDGETS = {name: RUNBOOK.budget(heading) for name, heading in BUDGET_HEADINGS.items()}
ARTIFACTS = Path("reports/operator-view")
CHROMIUM_TIMEOUT_S = 90


def _game(tmp_path: Path) -> tuple[OperatorGameDay, World]:
    clock = FakeClock()
    world = World(
        platform=ChangingPlatform(),
        desk=open_desk(tmp_path / "desk", clock),
        fault=lambda platform: None,
        healed=lambda platform: platform.history[-1].memory_limit == "2Gi",
        fix=lambda platform: platform.patch_memory(limit="2Gi", request="1Gi"),
        clock=clock,
        verify_after_s=0.0,
    )
    game = OperatorGameDay(
        modes_by_name()["oom"],
        "local",
        Settings(RUNBOOK.sla_s, BUDGETS, headings=dict(BUDGET_HEADINGS)),
        world.hooks(),
    )
    return game, world


def _advance(game: OperatorGameDay, world: World, seconds: float) -> None:
    world.clock.now += seconds
    game.tick()


def _paged(tmp_path: Path) -> tuple[OperatorGameDay, World]:
    """A game day 25 s after its fault: the page delivered (at 20 s), nothing said yet."""
    game, world = _game(tmp_path)
    game.start()
    _advance(game, world, 25)
    return game, world


needs_chromium = pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")


def test_the_page_shows_clock_phase_page_calls_and_budgets_escaped(tmp_path: Path) -> None:
    game, world = _game(tmp_path)
    game.start()
    _advance(game, world, 25)
    world.desk.send("ack")
    world.desk.send("call", "<script>alert(1)</script>")
    _advance(game, world, 5)
    page = render_page(game.view())
    assert 'data-phase="acknowledged"' in page
    assert "T+30s" in page
    assert "OffGridFlowAPIOOMKilled" in page
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
    assert f"Triage 1 {RUNBOOK.budget('Triage 1'):.0f}s" in page  # the confirm budget, from the runbook
    assert '<meta http-equiv="refresh"' in page


def test_the_view_is_served_on_loopback(tmp_path: Path) -> None:
    game, _world = _game(tmp_path)
    game.start()
    with LiveView(game.view) as view:
        assert view.url.startswith("http://127.0.0.1:")
        state = httpx.get(view.url + "state.json", timeout=5).json()
        assert state["phase"] == "injected"
        assert httpx.get(view.url + "nope", timeout=5).status_code == 404
        assert "injected" in httpx.get(view.url, timeout=5).text


def _chromium(url: str, screenshot: Path) -> str:
    """The DOM chromium rendered for ``url``, and a screenshot of it."""
    browser = chromium_path()
    assert browser is not None
    flags = CHROMIUM_FLAGS
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        subprocess.run(
            [browser, *flags, f"--user-data-dir={profile}", f"--screenshot={screenshot}", url],
            check=True,
            capture_output=True,
            timeout=CHROMIUM_TIMEOUT_S,
        )
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        dumped = subprocess.run(
            [browser, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
            check=True,
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT_S,
        )
    return dumped.stdout


def _phase(dom: str) -> str:
    match = re.search(r'<span id="phase" data-phase="([^"]+)"', dom)
    assert match, dom[:500]
    return match.group(1)


@needs_chromium
def test_a_real_browser_sees_the_phase_at_two_moments_of_a_run(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    game, world = _paged(tmp_path)
    world.desk.send("ack")
    _advance(game, world, 5)
    shots: dict[str, Any] = {}
    with LiveView(game.view) as view:
        first = _chromium(view.url, ARTIFACTS / "1-acknowledged.png")
        world.desk.send("call", "Fix 2")
        world.platform.patch_memory(limit="2Gi", request="1Gi")
        _advance(game, world, 30)
        _advance(game, world, 1)
        second = _chromium(view.url, ARTIFACTS / "2-verified.png")
        shots = {"first": _phase(first), "second": _phase(second)}
    assert shots == {"first": "acknowledged", "second": "verified"}
    assert "Fix 2 at 30s - right" in second  # timed when said, not when read
    assert "memory limit 512Mi -&gt; 2Gi" in second
    for name in ("1-acknowledged.png", "2-verified.png"):
        assert (ARTIFACTS / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- acknowledging from the view ---------------------------------------------------------------------
def _acks(world: World) -> list[dict[str, Any]]:
    """The ack lines on the desk (what `gameday ack` writes too)."""
    lines = world.desk.commands_path.read_text(encoding="utf-8").splitlines()
    return [entry for entry in map(json.loads, lines) if entry["kind"] == "ack"]


def _token(page: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def test_a_page_without_an_ack_says_how_to_ack_and_offers_no_form(tmp_path: Path) -> None:
    game, _world = _game(tmp_path)
    game.start()
    page = render_page(game.view())
    assert "<form" not in page
    assert "gameday ack" in page


def test_the_view_acks_through_the_desk_with_its_token_only_by_post(tmp_path: Path) -> None:
    game, world = _paged(tmp_path)
    with LiveView(game.view, ack=lambda: world.desk.send("ack")) as view:
        page = httpx.get(view.url, timeout=5).text
        token = _token(page)
        assert f"press <kbd>{ACK_KEY}</kbd>" in page
        ack = view.url + "ack"
        assert httpx.get(ack, timeout=5).status_code == 405
        assert _acks(world) == []
        answer = httpx.post(ack, data={"token": token}, timeout=5)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        assert 'data-acked="sent"' in httpx.get(view.url, timeout=5).text
        [sent] = _acks(world)
        assert sent["at"] == world.clock.now  # the desk's clock, as for `gameday ack`
        game.tick()
        assert game.run.acked_at == world.clock.now
        assert "acknowledged at T+25s" in httpx.get(view.url, timeout=5).text


def test_the_token_is_drawn_for_each_view(tmp_path: Path) -> None:
    game, world = _game(tmp_path)
    with (
        LiveView(game.view, ack=lambda: world.desk.send("ack")) as one,
        LiveView(game.view, ack=lambda: world.desk.send("ack")) as two,
    ):
        assert _token(httpx.get(one.url, timeout=5).text) != _token(httpx.get(two.url, timeout=5).text)


@pytest.mark.parametrize(
    ("form", "headers", "why"),
    [
        ({}, {}, "no or wrong token"),
        ({"token": "guessed"}, {}, "no or wrong token"),
        ("right", {"Origin": "http://evil.example"}, "Origin 'http://evil.example'"),
        ("right", {"Origin": "http://127.0.0.1:1"}, "Origin 'http://127.0.0.1:1'"),
        ("right", {"Host": "rebound.example"}, "Host 'rebound.example'"),
    ],
    ids=["no-token", "wrong-token", "foreign-origin", "other-local-port", "dns-rebinding-host"],
)
def test_a_request_not_from_the_page_cannot_ack(
    tmp_path: Path, form: dict[str, str] | str, headers: dict[str, str], why: str
) -> None:
    game, world = _game(tmp_path)
    game.start()
    with LiveView(game.view, ack=lambda: world.desk.send("ack")) as view:
        data = {"token": _token(httpx.get(view.url, timeout=5).text)} if form == "right" else form
        answer = httpx.post(view.url + "ack", data=data, headers=headers, timeout=5)
        assert answer.status_code == 403
        assert why in answer.text
    assert _acks(world) == []


def test_an_ack_with_no_game_day_running_is_refused_with_the_desks_reason(tmp_path: Path) -> None:
    game, world = _game(tmp_path)
    world.desk.close()
    with LiveView(game.view, ack=lambda: world.desk.send("ack")) as view:
        answer = httpx.post(view.url + "ack", data={"token": view.token}, timeout=5)
    assert answer.status_code == 409
    assert "no operator game day is running" in answer.text


@needs_chromium
def test_a_real_browser_acks_with_the_key_and_the_run_records_the_time(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    game, world = _paged(tmp_path)
    _advance(game, world, 15)  # the key is pressed 40 s after the fault, the clock stands still after
    phase = "document.getElementById('phase').dataset.phase"
    acked = "document.getElementById('ack').dataset.acked"
    with LiveView(game.view, ack=lambda: world.desk.send("ack")) as view, Chromium() as browser:
        browser.open(view.url)
        assert browser.wait_for(phase, lambda value: value is not None, 30) == "detected"
        assert browser.evaluate(acked) == "no"
        assert game.run.acked_at is None
        browser.press(ACK_KEY)
        # the game day reads the desk on its ticks; the page shows the ack once it is read
        browser.wait_for(acked, lambda value: value == "yes", 30, between=game.tick)
        shown_phase = browser.evaluate(phase)
        shown_ack = browser.evaluate("document.getElementById('ack').textContent")
        browser.screenshot(ARTIFACTS / "3-acknowledged-by-key.png")
    assert shown_phase == "acknowledged"
    assert shown_ack == "acknowledged at T+40s"
    assert [entry["at"] for entry in _acks(world)] == [world.clock.now]
    assert game.run.acked_at == world.clock.now
    assert game.view()["reached_s"]["acknowledged"] == 40.0
    assert (ARTIFACTS / "3-acknowledged-by-key.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_another_local_page_in_the_browser_cannot_ack_by_posting_the_form(tmp_path: Path) -> None:
    game, world = _paged(tmp_path)
    with LiveView(game.view, ack=lambda: world.desk.send("ack")) as view, Chromium() as browser:
        # a page elsewhere on this machine posts the ack form on load (it cannot read the token)
        attack = (
            f'<form id="f" method="post" action="{view.url}ack"><input name="token" value="guess"></form>'
            '<script>document.getElementById("f").submit()</script>'
        ).encode()

        class Attacker(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(attack)))
                self.end_headers()
                self.wfile.write(attack)

            def log_message(self, format: str, *args: Any) -> None:
                return

        with serving(Attacker) as elsewhere:
            browser.open(elsewhere + "/")
            text = "document.body && document.body.innerText"
            refused = browser.wait_for(text, lambda value: bool(value) and "live view" in value, 30)
        game.tick()
    # the browser names the page that posted: refused before the token is even looked at
    assert refused.startswith(f"Origin '{elsewhere}' is not this live view's page"), refused
    assert _acks(world) == []
    assert game.run.acked_at is None
