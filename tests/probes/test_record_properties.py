"""Property: every record of the wrong shape given to ``diagnose --from-record`` is one line on stderr
naming the file, and exit 64 (never a traceback, never a verdict); every record of the right shape
is judged.

Wrong records are made from the recorded corpus by one change known to be wrong by construction: a
value of another JSON kind (a list where text was, text where a number was, ...), a key the model
does not have, a required key removed, a time that is not one, two outcomes for one read, or a file
that is not JSON, not UTF-8 or not an object.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from offgridflow_runbook.cli import EXIT_USAGE, main
from offgridflow_runbook.probes import record
from offgridflow_runbook.reporting import printable

SCENARIOS = Path(__file__).resolve().parents[1] / "runbook" / "triage" / "scenarios"
# the keys of a record the model reads; the others (a scenario's expected verdict) are free-form
MODEL_KEYS = ("format", "at", "target", "platform_reason", "wall_seconds", "reads", "since_s")
TIME_KEYS = ("at", "active_at", "started_at", "finished_at")
UNKNOWN = "zz_not_in_the_model"
REQUIRED = (("format",), ("at",), ("target",), ("reads",), ("target", "name"), ("target", "platform"))


@functools.cache
def corpus() -> tuple[dict[str, Any], ...]:
    """Every recorded scenario (Docker, kind and seeded), parsed once."""
    return tuple(json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCENARIOS.rglob("*.json")))


def examples(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value inside a record's model part (not the record itself)."""
    found: list[tuple[Any, ...]] = []
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for key, child in children:
        if not path and key not in MODEL_KEYS:
            continue
        found.append((*path, key))
        found += nodes(child, (*path, key))
    return found


def at(document: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        document = document[key]
    return document


# a value of each JSON kind, and which kinds can never stand for a value of another
OTHER_KIND = {
    str: [3, True, [1], {UNKNOWN: 1}],
    bool: ["true", 1, [True], {UNKNOWN: 1}],
    int: ["3", True, [3], {UNKNOWN: 1}],
    float: ["3.5", False, [3.5], {UNKNOWN: 1}],
    type(None): [True, [1]],
    list: ["[]", 3, True, {UNKNOWN: 1}],
    dict: ["{}", 3, False, [1]],
}


@st.composite
def wrong_records(draw: st.DrawFn) -> bytes:
    """A record (as the file's bytes) that is wrong in one way, chosen at random."""
    good = draw(st.sampled_from(corpus()))
    bad = copy.deepcopy(good)
    kind = draw(st.integers(0, 6))
    paths = nodes(bad)
    if kind == 0:  # a value of another JSON kind anywhere in the model
        path = draw(st.sampled_from(paths))
        parent, key = at(bad, path[:-1]), path[-1]
        parent[key] = draw(st.sampled_from(OTHER_KIND[type(parent[key])]))
    elif kind == 1:  # a key the model does not have, in any object but the record itself
        path = draw(st.sampled_from([p for p in paths if isinstance(at(bad, p), dict)]))
        at(bad, path)[UNKNOWN] = draw(st.sampled_from([1, [1], {"a": 1}, None, True]))
    elif kind == 2:  # a required key removed
        path = draw(st.sampled_from(REQUIRED))
        del at(bad, path[:-1])[path[-1]]
    elif kind == 3:  # a time that is not one
        times = [p for p in paths if p[-1] in TIME_KEYS and isinstance(at(bad, p), str)]
        path = draw(st.sampled_from(times))
        at(bad, path[:-1])[path[-1]] = draw(
            st.sampled_from(["", "yesterday", "2026-13-01T00:00:00", "12:00"])
        )
    elif kind == 4:  # two outcomes for one read
        name = draw(st.sampled_from(sorted(bad["reads"])))
        entry = bad["reads"][name]
        entry["skipped" if "skipped" not in entry else "error"] = "and also this"
    elif kind == 5:  # the window, the target's schema, the format
        change = draw(st.integers(0, 4))
        if change == 0:
            bad["since_s"] = draw(st.sampled_from([0, -1, 1e308, "300", True]))
        elif change == 1:
            bad["target"]["base_url"] = draw(st.sampled_from(["ftp://x", "", "127.0.0.1:8080", "http://"]))
        elif change == 2:
            bad["target"]["platform"] = draw(st.sampled_from(["openstack", "", "Docker"]))
        elif change == 3:
            bad["target"]["namespace"] = draw(st.sampled_from(["Off_Grid", "", "-x"]))
        else:
            bad["format"] = draw(st.sampled_from(["offgridflow-look/2", "", "OFFGRIDFLOW-LOOK/1"]))
    else:  # not a record at all
        whole = draw(st.integers(0, 3))
        text = json.dumps(good)
        if whole == 0:
            return draw(st.sampled_from([b"[]", b"3", b'"a look"', b"null", b"true", b"{}"]))
        if whole == 1:  # cut short
            return text.encode()[: draw(st.integers(0, len(text) - 1))]
        if whole == 2:  # not UTF-8
            at_byte = draw(st.integers(0, len(text)))
            return text.encode()[:at_byte] + b"\xff" + text.encode()[at_byte:]
        return draw(st.binary(max_size=64))
    note(f"the change: kind {kind}")
    # JSON with NaN: json.dumps writes what Python's json.loads reads back
    return json.dumps(bad).encode()


@examples(1000)
@given(content=wrong_records())
def test_every_record_of_the_wrong_shape_is_one_line_and_exit_64(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "look.json"
    path.write_bytes(content)
    code = main(["diagnose", "--from-record", str(path)])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE, captured.err
    assert captured.out == ""
    err = captured.err
    assert err.startswith(f"offgridflow-runbook: error: {path}: ")
    assert err.count("\n") == 1
    assert err.endswith("\n")
    assert printable(err[:-1], newlines=False) == err[:-1]


@examples(100)
@given(
    good=st.sampled_from(range(100)),
    dropped=st.sets(st.sampled_from(record.READS), max_size=4),
    since_s=st.one_of(st.none(), st.floats(min_value=1, max_value=30 * 86400)),
)
def test_every_record_of_the_right_shape_is_judged(
    good: int, dropped: set[str], since_s: float | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a read missing from the record (made before it existed) is "not in the record", not an error
    chosen = copy.deepcopy(corpus()[good % len(corpus())])
    for name in dropped:
        chosen["reads"].pop(name, None)
    if since_s is not None:
        chosen["since_s"] = since_s
    path = tmp_path / "look.json"
    path.write_text(json.dumps(chosen), encoding="utf-8")
    code = main(["diagnose", "--from-record", str(path), "--json"])
    captured = capsys.readouterr()
    assert captured.err == ""
    assert code == json.loads(captured.out)["exit_code"]
    assert code in (0, 2, 3, 4)
