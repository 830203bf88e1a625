"""The corpus recorders (record_docker_scenarios.py, record_kind_scenarios.py) and what they share
(``helpers.triage_recording``): every fault has its label before any look, a put-back always runs, and
each recording made by a recorder carries the label its recorder wrote for that fault."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from helpers.triage_corpus import load_corpus
from helpers.triage_recording import recorded, wait

HERE = Path(__file__).resolve().parent
# made by hand and kept with a label (the docstring of record_docker_scenarios.py's LABELS says how)
MADE_BY_HAND = {"only-stale-events"}


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module", params=["record_docker_scenarios", "record_kind_scenarios"])
def recorder(request: pytest.FixtureRequest) -> ModuleType:
    return _script(request.param)


def test_every_fault_a_recorder_makes_has_its_label(recorder: ModuleType) -> None:
    assert set(recorder.SCENARIOS) == set(recorder.LABELS) - MADE_BY_HAND
    assert set(recorder.RECORDER.labels) == set(recorder.LABELS)


def test_each_recording_carries_the_label_its_recorder_wrote(recorder: ModuleType) -> None:
    script = f"tests/runbook/triage/{Path(recorder.__file__).name}"
    made = [s for s in load_corpus() if s.meta["origin"]["by"].startswith(f"{script}::")]
    assert made, f"no recording says it was made by {script}"
    for scenario in made:
        name = scenario.meta["origin"]["by"].split("::")[-1]
        assert name == scenario.path.stem
        assert scenario.origin == recorder.RECORDER.origin_class
        assert scenario.path.parent == recorder.OUT
        assert scenario.label == recorder.LABELS[name], f"{scenario.id}: its label is not its recorder's"


def test_a_look_that_fails_still_puts_the_target_back() -> None:
    done: list[str] = []

    def look() -> None:
        done.append("look")
        raise SystemExit("the look failed")

    with pytest.raises(SystemExit, match="the look failed"):
        recorded(
            look,
            before=lambda: done.append("quiet"),
            apply=lambda: done.append("fault"),
            restore=lambda: done.append("restore"),
            back=lambda: done.append("back"),
        )
    assert done == ["quiet", "fault", "look", "restore"]


def test_a_target_never_quiet_gets_no_fault_and_nothing_to_put_back() -> None:
    done: list[str] = []

    def never_quiet() -> None:
        raise SystemExit("timed out waiting until triage calls the target healthy")

    with pytest.raises(SystemExit):
        recorded(
            lambda: done.append("look"),
            before=never_quiet,
            apply=lambda: done.append("fault"),
            restore=lambda: done.append("restore"),
        )
    assert done == []


def test_a_fault_that_never_shows_is_put_back_without_a_look() -> None:
    done: list[str] = []
    with pytest.raises(SystemExit, match="timed out after 0s waiting until the fault shows"):
        recorded(
            lambda: done.append("look"),
            apply=lambda: done.append("fault"),
            restore=lambda: done.append("restore"),
            shows=("the fault shows", lambda: False),
            shows_timeout=0.05,
        )
    assert done == ["fault", "restore"]


def test_wait_returns_once_the_condition_holds() -> None:
    answers = iter([False, False, True])
    wait("it holds", lambda: next(answers), timeout=5, interval=0.01)


def test_the_kind_recorder_refuses_bad_input_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    kind = _script("record_kind_scenarios")
    for argv in (["no-such-scenario"], ["--until", "6 am"]):
        with pytest.raises(SystemExit) as exit_info:
            kind.main(argv)
        assert exit_info.value.code == 2
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert "no-such-scenario" in error or "6 am" in error
        assert "Traceback" not in error


def test_a_database_change_ends_the_api_sessions_after_it_and_after_its_undo() -> None:
    from helpers.triage_recording import database_change

    ran: list[str] = []
    apply, restore = database_change("db-password-changed", "it's secret", ran.append, "END SESSIONS")
    apply()
    restore()
    assert ran == [
        "ALTER ROLE offgridflow PASSWORD 'rotated-by-the-dba-not-in-the-secret'",
        "END SESSIONS",
        "ALTER ROLE offgridflow PASSWORD 'it''s secret'",  # the role's own password, quoted for SQL
        "END SESSIONS",
    ]
