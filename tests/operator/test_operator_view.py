"""The live view: what it shows, escaped, served on 127.0.0.1, and seen in a real headless browser
(Debian's chromium) at two moments of a run with a fake target and clock."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from helpers.operator_fakes import ChangingPlatform, FakeClock, World, open_desk
from offgridflow_runbook.gameday.modes import modes_by_name
from offgridflow_runbook.gameday.scorecard import BUDGET_HEADINGS
from offgridflow_runbook.operator.session import OperatorGameDay, Settings
from offgridflow_runbook.operator.view import LiveView, render_page
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
    browser = shutil.which("chromium")
    assert browser is not None
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1000,900",
    ]
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [browser, *flags, f"--user-data-dir={profile}", f"--screenshot={screenshot}", url],
            check=True,
            capture_output=True,
            timeout=CHROMIUM_TIMEOUT_S,
        )
    with tempfile.TemporaryDirectory() as profile:
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


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_a_real_browser_sees_the_phase_at_two_moments_of_a_run(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    game, world = _game(tmp_path)
    game.start()
    _advance(game, world, 25)
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
