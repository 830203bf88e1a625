"""One look at a target, saved to a file and read back: ``diagnose --record FILE`` and the scenario corpus.

A record holds every read of :class:`~offgridflow_runbook.probes.snapshot.Observations` as it came
back: the value, the error that prevented it (its type and one-line message), or the reason it was
skipped. Reading a record back gives the same ``Observations``, so triage judges a recorded look
exactly as it judged the live one. The bearer token is never part of a record (only whether one was
set), and answers are kept as the target sent them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from offgridflow_runbook.platforms import (
    CommandResult,
    Event,
    NetworkStatus,
    PlatformError,
    RolloutStatus,
    Termination,
    Usage,
    Workload,
)
from offgridflow_runbook.probes import http
from offgridflow_runbook.probes.http import HttpResult, ProbeError
from offgridflow_runbook.probes.pager import PagerUnusable
from offgridflow_runbook.probes.prometheus import Alert
from offgridflow_runbook.probes.snapshot import ErrorRate, Observations, Observed
from offgridflow_runbook.targets import Target

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


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# -- values ---------------------------------------------------------------------------------------------
def _workload_out(workload: Workload) -> dict[str, Any]:
    raw = asdict(workload)
    raw["started_at"] = _time(workload.started_at)
    if workload.last_termination is not None:
        raw["last_termination"]["finished_at"] = _time(workload.last_termination.finished_at)
    return raw


def _workload_in(raw: dict[str, Any]) -> Workload:
    values = dict(raw)
    values["started_at"] = _parse_time(values.get("started_at"))
    ended = values.get("last_termination")
    if ended is not None:
        values["last_termination"] = Termination(
            reason=ended["reason"],
            exit_code=int(ended["exit_code"]),
            finished_at=_parse_time(ended.get("finished_at")),
        )
    return Workload(**values)


def _event_out(event: Event) -> dict[str, Any]:
    return {**asdict(event), "at": event.at.isoformat()}


def _event_in(raw: dict[str, Any]) -> Event:
    return Event(**{**raw, "at": datetime.fromisoformat(raw["at"])})


def _alert_out(alert: Alert) -> dict[str, Any]:
    return {**asdict(alert), "active_at": _time(alert.active_at)}


def _alert_in(raw: dict[str, Any]) -> Alert:
    return Alert(**{**raw, "active_at": _parse_time(raw.get("active_at"))})


# read name -> (to JSON, from JSON)
_CODECS: dict[str, tuple[Any, Any]] = {
    "live": (asdict, lambda raw: HttpResult(**raw)),
    "ready": (asdict, lambda raw: HttpResult(**raw)),
    "activities": (asdict, lambda raw: HttpResult(**raw)),
    "metrics": (asdict, lambda raw: HttpResult(**raw)),
    "error_rate": (asdict, lambda raw: ErrorRate(**raw)),
    "alerts": (lambda v: [_alert_out(a) for a in v], lambda raw: [_alert_in(a) for a in raw]),
    "api_workloads": (lambda v: [_workload_out(w) for w in v], lambda raw: [_workload_in(w) for w in raw]),
    "database_workloads": (
        lambda v: [_workload_out(w) for w in v],
        lambda raw: [_workload_in(w) for w in raw],
    ),
    "pg_isready": (asdict, lambda raw: CommandResult(**{**raw, "command": tuple(raw["command"])})),
    "usage": (lambda v: [asdict(u) for u in v], lambda raw: [Usage(**u) for u in raw]),
    "network": (
        asdict,
        lambda raw: NetworkStatus(
            **{**raw, "ingresses": tuple(raw["ingresses"]), "published": tuple(raw.get("published", ()))}
        ),
    ),
    "api_logs": (dict, dict),
    "previous_logs": (dict, dict),
    "events": (lambda v: [_event_out(e) for e in v], lambda raw: [_event_in(e) for e in raw]),
    "api_rollout": (asdict, lambda raw: RolloutStatus(**raw)),
    "alertmanager": (asdict, lambda raw: HttpResult(**raw)),
    "alert_receiver": (asdict, lambda raw: HttpResult(**raw)),
}
READS = tuple(_CODECS)


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


def _observed_out(name: str, observed: Observed[Any]) -> dict[str, Any]:
    entry: dict[str, Any] = {"seconds": round(observed.seconds, 4)}
    if observed.skipped is not None:
        entry["skipped"] = observed.skipped
    elif observed.error is not None:
        entry["error"] = _error_out(observed.error)
    else:
        entry["value"] = _CODECS[name][0](observed.value)
    return entry


def _observed_in(name: str, raw: dict[str, Any]) -> Observed[Any]:
    seconds = float(raw.get("seconds", 0.0))
    if "skipped" in raw:
        return Observed(skipped=str(raw["skipped"]), seconds=seconds)
    if "error" in raw:
        return Observed(error=_error_in(raw["error"]), seconds=seconds)
    return Observed(value=_CODECS[name][1](raw["value"]), seconds=seconds)


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
        "reads": {name: _observed_out(name, getattr(observations, name)) for name in READS},
        **extra,
    }


def from_record(record: dict[str, Any]) -> Observations:
    """The ``Observations`` a record holds (no platform: a recorded look cannot be asked again)."""
    if record.get("format") != RECORD_FORMAT:
        raise RecordError(
            f"not a recorded look (format {record.get('format')!r}, expected {RECORD_FORMAT!r})"
        )
    known = {f.name for f in fields(Target)}
    target = Target(**{key: value for key, value in record["target"].items() if key in known})
    reads = record["reads"]
    missing = [name for name in READS if name not in reads]
    observed = {name: _observed_in(name, reads[name]) for name in READS if name in reads}
    # A record made before a read existed says so instead of pretending it was read.
    observed.update({name: Observed(skipped="not in the record") for name in missing})
    return Observations(
        target=target,
        platform_reason=str(record.get("platform_reason", "")),
        wall_seconds=float(record.get("wall_seconds", 0.0)),
        at=datetime.fromisoformat(record["at"]),
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
    """The event window a look was recorded with (``since_s``, kept by ``diagnose --record``); for
    records made before it was kept, ``default`` (the caller's: triage's own window)."""
    seconds = record.get("since_s")
    return timedelta(seconds=float(seconds)) if seconds else default


def load(path: Path | str) -> tuple[Observations, dict[str, Any]]:
    """The look in ``path`` and the whole record (for keys kept beside it)."""
    source = Path(path)
    try:
        record = json.loads(source.read_text(encoding="utf-8"))
        return from_record(record), record
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise RecordError(f"{source}: cannot read the recorded look: {error}") from None
    except RecordError as error:
        raise RecordError(f"{source}: {error}") from None
