"""One look at a target, saved to a file and read back: ``diagnose --record FILE`` and the scenario corpus.

A record holds every read of :class:`~offgridflow_runbook.probes.snapshot.Observations` as it came
back: the value, the error that prevented it (its type and one-line message), or the reason it was
skipped. Reading a record back gives the same ``Observations``, so triage judges a recorded look
exactly as it judged the live one. The bearer token is never part of a record (only whether one was
set), and answers are kept as the target sent them.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import MISSING, fields, is_dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from offgridflow_runbook.files import read_user_text
from offgridflow_runbook.platforms import (
    PlatformError,
)
from offgridflow_runbook.probes import http
from offgridflow_runbook.probes.http import ProbeError
from offgridflow_runbook.probes.pager import PagerUnusable
from offgridflow_runbook.probes.snapshot import Observations, Observed
from offgridflow_runbook.reporting import shown
from offgridflow_runbook.targets import Target, TargetError, profile_target

__all__ = ["RECORD_FORMAT", "RecordError", "from_record", "load", "save", "since_of", "to_record"]

RECORD_FORMAT = "offgridflow-look/1"

_PROBE_ERRORS: dict[str, type[ProbeError]] = {
    cls.__name__: cls
    for cls in (
        ProbeError,
        http.Unreachable,
        http.DnsFailure,
        http.TlsError,
        http.ProbeTimeout,
        http.Unauthorized,
        PagerUnusable,
    )
}
_TARGET_KEYS = (
    "name",
    "platform",
    "base_url",
    "metrics_url",
    "prometheus_url",
    "alertmanager_url",
    "alert_receiver_url",
    "kube_context",
    "namespace",
)


class RecordError(Exception):
    """A record file that cannot be read back; the message names the file and what is wrong."""


class RecordedError(Exception):
    """An error other than a probe or platform error, kept by its type name and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# -- values ---------------------------------------------------------------------------------------------
def _encode(value: Any) -> Any:
    """A model value as plain JSON: dataclasses as objects, times in ISO 8601, tuples as lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    return value


# every read of a look, in the order Observations declares them
READS = tuple(name for name, hint in get_type_hints(Observations).items() if get_origin(hint) is Observed)


# -- errors ---------------------------------------------------------------------------------------------
def _error_out(error: Exception) -> dict[str, Any]:
    if isinstance(error, ProbeError):
        return {
            "type": type(error).__name__,
            "message": str(error),
            "target": error.target,
            "url": error.url,
            "detail": error.detail,
        }
    kind = "PlatformError" if isinstance(error, PlatformError) else type(error).__name__
    return {"type": kind, "message": str(error)}


def _error_in(raw: dict[str, Any]) -> Exception:
    kind = raw.get("type", "Exception")
    if kind in _PROBE_ERRORS:
        return _PROBE_ERRORS[kind](raw.get("target", ""), raw.get("url", ""), raw.get("detail", ""))
    if kind == "PlatformError":
        return PlatformError(raw.get("message", ""))
    return RecordedError(kind, raw.get("message", ""))


def _observed_out(observed: Observed[Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"seconds": round(observed.seconds, 4)}
    if observed.skipped is not None:
        entry["skipped"] = observed.skipped
    elif observed.error is not None:
        entry["error"] = _error_out(observed.error)
    else:
        entry["value"] = _encode(observed.value)
    return entry


# -- the record -----------------------------------------------------------------------------------------
def to_record(observations: Observations, **extra: Any) -> dict[str, Any]:
    """The look as plain JSON (``extra`` keys are kept beside it, e.g. a scenario's expected verdict)."""
    target = observations.target
    return {
        "format": RECORD_FORMAT,
        "at": observations.at.isoformat(),
        "target": {key: getattr(target, key) for key in _TARGET_KEYS}
        | {"token_set": target.token is not None},
        "platform_reason": observations.platform_reason,
        "wall_seconds": round(observations.wall_seconds, 4),
        "reads": {name: _observed_out(getattr(observations, name)) for name in READS},
        **extra,
    }


# -- reading a record back, strictly ---------------------------------------------------------------------
# A record is read against the very types of the model (the dataclasses' annotations and those of
# Observations), so a file of the wrong shape is one RecordError naming where and what was expected,
# never a TypeError deep inside triage.
_READ_TYPES: dict[str, Any] = {name: get_args(get_type_hints(Observations)[name])[0] for name in READS}
_OBSERVED_KEYS = ("seconds", "skipped", "error", "value")
_ERROR_KEYS = ("type", "message", "target", "url", "detail")


def _wrong(where: str, expected: str, value: object) -> RecordError:
    return RecordError(f"{where} must be {expected}, not {shown(value)}")


def _mapping(where: str, raw: object, known: tuple[str, ...] | None = None) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _wrong(where, "an object", raw)
    if known is not None:
        unknown = sorted(key for key in raw if key not in known)
        if unknown:
            raise RecordError(f"{where} has unknown keys {unknown}; known: {sorted(known)}")
    return raw


def _number(where: str, raw: object) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise _wrong(where, "a finite number", raw)
    return float(raw)


def _decode(hint: Any, raw: object, where: str) -> Any:
    """``raw`` (parsed JSON) as a value of type ``hint``; RecordError where it is not."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, UnionType):  # the models only use ``X | None``
        if raw is None and type(None) in args:
            return None
        return _decode(next(arg for arg in args if arg is not type(None)), raw, where)
    if hint is datetime:
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(raw)
        raise _wrong(where, "an ISO 8601 time", raw)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        raise _wrong(where, "true or false", raw)
    if hint is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        raise _wrong(where, "an integer", raw)
    if hint is float:
        return _number(where, raw)
    if hint is str:
        if isinstance(raw, str):
            return raw
        raise _wrong(where, "a string", raw)
    if origin in (list, tuple):
        if not isinstance(raw, list):
            raise _wrong(where, "a list", raw)
        items = [_decode(args[0], item, f"{where}[{index}]") for index, item in enumerate(raw)]
        return items if origin is list else tuple(items)
    if origin is dict:
        return {
            _decode(args[0], key, f"{where} key"): _decode(args[1], value, f"{where}.{key}")
            for key, value in _mapping(where, raw).items()
        }
    if isinstance(hint, type) and is_dataclass(hint):
        model: Any = hint
        declared = {f.name: f for f in fields(model)}
        values = _mapping(where, raw, tuple(declared))
        for name, declared_field in declared.items():
            no_default = declared_field.default is MISSING and declared_field.default_factory is MISSING
            if no_default and name not in values:
                raise RecordError(f"{where} needs {name!r}")
        hints = get_type_hints(model)
        return model(
            **{name: _decode(hints[name], value, f"{where}.{name}") for name, value in values.items()}
        )
    raise RecordError(f"{where}: no reader for {hint!r}")  # a model type this module does not know yet


def _error_checked(where: str, raw: object) -> dict[str, Any]:
    entry = _mapping(where, raw, _ERROR_KEYS)
    for key, value in entry.items():
        if not isinstance(value, str):
            raise _wrong(f"{where}.{key}", "a string", value)
    return entry


def _observed_checked(name: str, raw: object, where: str) -> Observed[Any]:
    entry = _mapping(where, raw, _OBSERVED_KEYS)
    outcomes = [key for key in ("skipped", "error", "value") if key in entry]
    if len(outcomes) != 1:
        raise RecordError(f"{where} must have exactly one of 'value', 'error' or 'skipped', not {outcomes}")
    seconds = _number(f"{where}.seconds", entry.get("seconds", 0.0))
    if "skipped" in entry:
        return Observed(skipped=_decode(str, entry["skipped"], f"{where}.skipped"), seconds=seconds)
    if "error" in entry:
        return Observed(error=_error_in(_error_checked(f"{where}.error", entry["error"])), seconds=seconds)
    return Observed(value=_decode(_READ_TYPES[name], entry["value"], f"{where}.value"), seconds=seconds)


def _target_checked(raw: object) -> Target:
    values = _mapping("target", raw, (*_TARGET_KEYS, "token_set"))
    _decode(bool, values.get("token_set", False), "target.token_set")
    profile = {key: value for key, value in values.items() if key in _TARGET_KEYS[1:] and value is not None}
    try:
        return profile_target(values.get("name"), profile)
    except TargetError as error:
        raise RecordError(str(error)) from None


def from_record(record: object) -> Observations:
    """The ``Observations`` a record holds (no platform: a recorded look cannot be asked again).
    :class:`RecordError` (one line: where in the record, and what was expected) for any other shape."""
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        found = record.get("format") if isinstance(record, dict) else None
        raise RecordError(f"not a recorded look (format {found!r}, expected {RECORD_FORMAT!r})")
    target = _target_checked(record.get("target"))
    reads = _mapping("reads", record.get("reads"), READS)
    observed = {
        name: _observed_checked(name, reads[name], f"reads.{name}") for name in READS if name in reads
    }
    # A record made before a read existed says so instead of pretending it was read.
    observed.update({name: Observed(skipped="not in the record") for name in READS if name not in reads})
    since_s = record.get("since_s")
    if since_s is not None and not (
        _number("since_s", since_s) > 0 and since_s <= timedelta.max.total_seconds()
    ):
        raise _wrong("since_s", "a positive number of seconds", since_s)
    return Observations(
        target=target,
        platform_reason=_decode(str, record.get("platform_reason", ""), "platform_reason"),
        wall_seconds=_number("wall_seconds", record.get("wall_seconds", 0.0)),
        at=_decode(datetime, record.get("at"), "at"),
        **observed,  # type: ignore[arg-type]
    )


def save(observations: Observations, path: Path | str, **extra: Any) -> Path:
    """Write the look to ``path`` as indented JSON, the target's token (should any answer echo it)
    replaced by ``***``."""
    destination = Path(path)
    destination.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(to_record(observations, **extra), indent=2) + "\n"
    token = observations.target.token
    if token:
        text = text.replace(token, "***")
    destination.write_text(text, encoding="utf-8")
    return destination


def since_of(record: dict[str, Any], default: timedelta) -> timedelta:
    """The event window a look was recorded with (``since_s``, kept by ``diagnose --record``; checked
    by :func:`load`); for records made before it was kept, ``default`` (the caller's: triage's own
    window)."""
    seconds = record.get("since_s")
    return timedelta(seconds=float(seconds)) if seconds else default


def load(path: Path | str) -> tuple[Observations, dict[str, Any]]:
    """The look in ``path`` and the whole record (for keys kept beside it). :class:`RecordError`, one
    line naming the file and what is wrong, for a file that is missing, unreadable, not JSON or not a
    recorded look."""
    source = Path(path)
    try:
        record = json.loads(read_user_text(source))
    except IsADirectoryError:
        raise RecordError(f"{source}: cannot read the recorded look: a directory, not a file") from None
    except OSError as error:
        raise RecordError(f"{source}: cannot read the recorded look: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise RecordError(
            f"{source}: cannot read the recorded look: not UTF-8 text (byte {error.start})"
        ) from None
    except ValueError as error:  # json.JSONDecodeError: the message names line and column
        raise RecordError(f"{source}: cannot read the recorded look: not JSON ({error})") from None
    except RecursionError:
        raise RecordError(f"{source}: cannot read the recorded look: nested too deeply") from None
    try:
        return from_record(record), record
    except RecordError as error:
        raise RecordError(f"{source}: {error}") from None
