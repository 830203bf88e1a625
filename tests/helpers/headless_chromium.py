"""A real headless Chromium (Debian's) driven over the DevTools protocol, for the tests that must press
a key in a page: open a URL, read the DOM with an expression, press a key, take a screenshot.

The browser listens for DevTools on a port it picks itself on 127.0.0.1 (``--remote-debugging-port=0``,
written to ``DevToolsActivePort`` in its own throw-away profile); every wait is bounded.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websocket

__all__ = ["CHROMIUM_FLAGS", "Chromium", "chromium_path"]

# headless, no sandbox (containers), nothing fetched from the network, one window size for screenshots
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1000,900",
)
_START_S = 30.0
_CALL_S = 15.0


def chromium_path() -> str | None:
    return shutil.which("chromium")


class Chromium:
    """One headless Chromium with one page, attached over DevTools (a context manager)."""

    def __init__(self) -> None:
        browser = chromium_path()
        assert browser is not None, "Debian's chromium is not installed"
        # Chromium's helper processes (crashpad, GPU, renderers) may still write into the profile
        # for a moment after the browser ended: the browser gets a process group of its own, ended
        # whole, and a file they leave does not fail the test (the folder goes with the next cleanup)
        self._profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        profile = f"--user-data-dir={self._profile.name}"
        self._process = subprocess.Popen(
            [browser, *CHROMIUM_FLAGS, profile, "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._ids = itertools.count(1)
        self._session = ""
        try:
            port, path = self._endpoint()
            self._socket = websocket.create_connection(f"ws://127.0.0.1:{port}{path}", timeout=_CALL_S)
            target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
            self._session = attached["sessionId"]
        except BaseException:
            self.close()
            raise

    def _endpoint(self) -> tuple[int, str]:
        active = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + _START_S
        while time.monotonic() < deadline:
            lines = active.read_text(encoding="utf-8").split() if active.exists() else []
            if len(lines) >= 2:
                return int(lines[0]), lines[1]
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._process.returncode} before DevTools was up")
            time.sleep(0.1)
        raise TimeoutError(f"chromium wrote no DevToolsActivePort within {_START_S}s")

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One DevTools command (on the page once attached); its result, events in between skipped."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if self._session:
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        deadline = time.monotonic() + _CALL_S
        while time.monotonic() < deadline:
            answer = json.loads(self._socket.recv())
            if answer.get("id") == number:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
        raise TimeoutError(f"{method}: no answer within {_CALL_S}s")

    def open(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page (None while the page is between two documents)."""
        try:
            result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        except RuntimeError:
            return None  # the document was replaced under the evaluation (a refresh, a redirect)
        return result.get("result", {}).get("value")

    def wait_for(
        self,
        expression: str,
        wanted: Callable[[Any], bool],
        seconds: float,
        between: Callable[[], None] = lambda: None,
    ) -> Any:
        """Evaluate ``expression`` until ``wanted`` holds of its value (``between`` runs each round)."""
        deadline = time.monotonic() + seconds
        value = None
        while time.monotonic() < deadline:
            between()
            value = self.evaluate(expression)
            if wanted(value):
                return value
            time.sleep(0.2)
        raise TimeoutError(f"{expression} stayed {value!r} for {seconds}s")

    def press(self, key: str) -> None:
        """Press and release one printable key, as a person at the keyboard does."""
        code = f"Key{key.upper()}" if key.isalpha() else ""
        base = {"key": key, "code": code, "windowsVirtualKeyCode": ord(key.upper())}
        self.call("Input.dispatchKeyEvent", {"type": "keyDown", "text": key, **base})
        self.call("Input.dispatchKeyEvent", {"type": "keyUp", **base})

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"})["data"]))

    def close(self) -> None:
        socket = getattr(self, "_socket", None)
        if socket is not None:
            socket.close()
        self._signal_group(signal.SIGTERM)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self._process.wait(timeout=15)
        self._signal_group(signal.SIGKILL)  # helpers the browser left behind, all of this group only
        self._profile.cleanup()

    def _signal_group(self, number: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, number)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
