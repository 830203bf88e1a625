"""Start-up cost of the ``offgridflow-runbook`` command.

httpx imports its own command-line client (``httpx._main``: click, rich, pygments, about 150 ms on
this machine) whenever click is installed, and chaostoolkit installs click. The suite's commands
never run httpx's command line, so before httpx is first imported a stand-in takes that module's
place: its ``main`` loads the real client on first call, so ``httpx.main`` still works.
"""

from __future__ import annotations

import sys
import types
from typing import Any

_MODULE = "httpx._main"


def defer_httpx_cli() -> bool:
    """Put the stand-in in place; False when httpx (or its client) is imported already."""
    if "httpx" in sys.modules or _MODULE in sys.modules:
        return False
    stand_in = types.ModuleType(_MODULE, "stands in for httpx's command-line client until it is used")

    def main(*args: Any, **kwargs: Any) -> Any:
        if sys.modules.get(_MODULE) is stand_in:
            del sys.modules[_MODULE]
        from httpx._main import main as real_main

        return real_main(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules[_MODULE] = stand_in
    return True
