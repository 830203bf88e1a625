"""What collection left alive is frozen for the session's garbage collections, and only for them.

The first scenario runs in a fresh interpreter: the session running this test froze its own objects,
and a session inside it leaves that freeze alone (the second test)."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

# A session with the plugin (an entry point: loaded as in any run) and a test that sees the freeze and
# leaves a cycle whose finaliser raises; the program records, at every garbage collection from the end
# of the session on (its conftest says when), the generation collected and how many objects were frozen.
CONFTEST = """
import sys

def pytest_sessionfinish(session):
    sys.modules["__main__"].recording.append(True)
"""
TESTS = """
import gc

class Loud:
    def __del__(self):
        raise RuntimeError("finaliser of a cycle a test left")

def test_collection_is_frozen_during_the_tests():
    assert gc.get_freeze_count() > 0

def test_leaves_a_cycle_that_only_a_collection_finalises():
    loud = Loud()
    loud.me = loud
"""
AT_EXIT = """
import atexit, gc, os

atexit.register(lambda: os.write(1, f"\\nfrozen at exit: {gc.get_freeze_count() > 0}\\n".encode()))
"""
SCENARIO = """
import gc, json, sys
import pytest

recording, seen = [], []

def record(phase, info):
    if phase == "start" and recording:
        seen.append((info["generation"], gc.get_freeze_count()))

gc.callbacks.append(record)
code = pytest.main([sys.argv[1], "-q", "-p", "no:cacheprovider", "-p", "no:asyncio", "-W", "default"])
gc.callbacks.remove(record)
print(json.dumps({"code": int(code), "collections": seen, "after": gc.get_freeze_count()}))
"""


def run_scenario(directory: Path, conftest: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The scenario's tests and ``conftest`` in ``directory``, run by a fresh interpreter."""
    (directory / "conftest.py").write_text(conftest)
    (directory / "test_scenario.py").write_text(TESTS)
    result = subprocess.run(
        [sys.executable, *arguments], capture_output=True, text=True, timeout=120, check=False, cwd=directory
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_the_session_freezes_what_collection_left_and_releases_it_after_pytests_collections(
    tmp_path: Path,
) -> None:
    result = run_scenario(tmp_path, CONFTEST, "-c", SCENARIO, str(tmp_path))
    outcome = json.loads(result.stdout.splitlines()[-1])
    assert outcome["code"] == 0, result.stdout
    # pytest's five end-of-session collections (full ones) ran with the freeze in effect ...
    full = [frozen for generation, frozen in outcome["collections"] if generation == 2]
    assert len(full) >= 5, outcome
    assert all(frozen > 0 for frozen in full[:5]), outcome
    # ... and still finalised the cycle the test left: its exception is reported as before
    output = result.stdout + result.stderr
    assert "PytestUnraisableExceptionWarning" in output
    assert "finaliser of a cycle a test left" in output
    # a program that called pytest.main goes on: nothing is frozen once the session is over
    assert outcome["after"] == 0


def test_a_session_started_by_pytests_command_stays_frozen_until_the_process_ends(tmp_path: Path) -> None:
    # atexit runs after the session, before the interpreter's last collection: the objects are frozen
    command = ("-m", "pytest", str(tmp_path), "-q", "-p", "no:cacheprovider", "-p", "no:asyncio")
    result = run_scenario(tmp_path, AT_EXIT, *command)
    assert result.stdout.splitlines()[-1] == "frozen at exit: True"


def test_a_session_inside_another_leaves_the_freeze_as_it_found_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    before = gc.get_freeze_count()  # > 0: this session froze (or 0, run without the plugin)
    result = pytester.runpytest("-p", "no:asyncio", "-p", "no:pytest-kind")
    result.assert_outcomes(passed=1)
    after = gc.get_freeze_count()
    # neither released (0) nor grown by the inner session's thousands of objects; frozen objects can
    # still be freed by reference counting, so the count may only fall
    assert (after > 0) == (before > 0)
    assert after <= before
