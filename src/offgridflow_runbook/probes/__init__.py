"""Reads of a target: the API over HTTP, Prometheus, and one concurrent snapshot of everything."""

from offgridflow_runbook.probes.http import (
    ApiProbe,
    DnsFailure,
    HttpResult,
    ProbeError,
    ProbeTimeout,
    TlsError,
    Unauthorized,
    Unreachable,
)
from offgridflow_runbook.probes.prometheus import Alert, PrometheusProbe

__all__ = [
    "Alert",
    "ApiProbe",
    "DnsFailure",
    "HttpResult",
    "ProbeError",
    "ProbeTimeout",
    "PrometheusProbe",
    "TlsError",
    "Unauthorized",
    "Unreachable",
]
