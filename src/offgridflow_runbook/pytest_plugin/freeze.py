"""What collection left alive, kept out of pytest's end-of-session garbage collections.

pytest (8.4) ends every session with five full ``gc.collect()`` passes, so that an object a test left
in a reference cycle is finalised and its unraisable exception reported (``_pytest.unraisableexception``).
Each pass walks every object the interpreter tracks: the modules, plugins, fixtures and items that
exist when collection ends and live until the session does. On ``pytest checks`` those passes were
0.1-0.2 s of a 0.7 s run. Frozen when collection finishes (``gc.freeze``), those objects are skipped
by every collection; what the tests create is still collected as before, by the automatic passes
and by pytest's own five at the end, where an unraisable exception is still reported. After those,
the objects are released again (``gc.unfreeze``): nothing stays frozen past the session, and garbage
frozen with them is collected as usual by the next full collection. Except when the session was
started by pytest's own command (``pytest``, ``python -m pytest``): the process ends with it, and the
interpreter's last collection at exit would only walk them all once more (0.05-0.1 s of a check run);
they stay frozen, and the operating system takes the memory back. What this changes: a reference
cycle among those objects that is dropped during the session is finalised after the release rather
than during the session, and under pytest's own command not at all (its memory goes with the process).

A session run inside another one (pytester's in-process runs) finds the outer session's objects
frozen already and leaves the freeze to the outer session.
"""

from __future__ import annotations

import functools
import gc
import sys
from types import FrameType

import pytest

_froze_key = pytest.StashKey[bool]()


def release_after_cleanup(config: pytest.Config) -> None:
    """Register the release of this session's freeze as one of ``config``'s clean-ups.

    Called from the plugin's ``pytest_configure``, which pytest calls before its own plugins'
    (entry-point plugins are registered after them): this clean-up is then registered before
    ``_pytest.unraisableexception``'s and, clean-ups running last-in first-out, runs after its
    collections."""
    config.add_cleanup(functools.partial(_release, config))


def pytest_collection_finish(session: pytest.Session) -> None:
    if gc.get_freeze_count() == 0:  # not inside a session (or a program) that froze already
        gc.freeze()
        session.config.stash[_froze_key] = True


def _release(config: pytest.Config) -> None:
    if config.stash.get(_froze_key, False):
        del config.stash[_froze_key]
        if not _process_ends_with_session():
            gc.unfreeze()


def _process_ends_with_session() -> bool:
    """Whether pytest's command-line entry point runs this session (it exits the process after it);
    ``pytest.main`` called by a program (the CLI, pytester) returns to the program instead."""
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        if frame.f_code is pytest.console_main.__code__:
            return True
        frame = frame.f_back
    return False
