"""Pages: the alerts Alertmanager delivered to the game day's webhook receiver, and when.

Detection means a page (docs: "an alert fires and reaches Alertmanager's receiver"), so the game day's
MTTD runs from the fault to the first delivery of a firing runbook alert that this fault caused. The
receiver (``deploy/docker/alert_receiver.py``) keeps its recent deliveries with the time each arrived
(``GET /deliveries?since=T`` sends those from T on); each delivery is Alertmanager's webhook payload:
the receiver the route chose and the alerts of one group, each with its labels and ``startsAt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from offgridflow_runbook.probes.http import ProbeError, classify_transport_error, http_client
from offgridflow_runbook.probes.pager import RECEIVER_PATH

__all__ = ["Page", "PageDeliveries", "first_page", "pages_from_deliveries", "read_pages"]

# Alertmanager stamps ``startsAt`` with Prometheus' clock and the receiver ``received_at`` with its own;
# both run on this machine, so a little slack covers rounding, not clock skew.
_SLACK_S = 2.0


@dataclass(frozen=True)
class Page:
    """One firing alert in one delivery to the receiver (Unix times)."""

    alert: str
    receiver: str
    delivered_at: float
    started_at: float | None
    summary: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "receiver": self.receiver,
            "delivered_at": self.delivered_at,
            "started_at": self.started_at,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class PageDeliveries:
    """What the receiver got; ``unknown`` says why it could not be read (never "no page")."""

    pages: tuple[Page, ...] = ()
    unknown: str | None = None


def _time(text: Any) -> float | None:
    if not isinstance(text, str) or not text or text.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def pages_from_deliveries(deliveries: list[dict[str, Any]]) -> tuple[Page, ...]:
    """The firing alerts of the receiver's deliveries, in order of arrival."""
    pages = []
    for delivery in deliveries:
        payload = delivery.get("payload") or {}
        for alert in payload.get("alerts") or []:
            if alert.get("status") != "firing":
                continue
            labels = alert.get("labels") or {}
            pages.append(
                Page(
                    alert=str(labels.get("alertname", "")),
                    receiver=str(payload.get("receiver", "")),
                    delivered_at=float(delivery.get("received_at", 0.0)),
                    started_at=_time(alert.get("startsAt")),
                    summary=str((alert.get("annotations") or {}).get("summary", "")),
                )
            )
    return tuple(sorted(pages, key=lambda page: page.delivered_at))


def read_pages(receiver_url: str | None, *, since: float, timeout: float = 5.0) -> PageDeliveries:
    """The pages delivered since ``since``; unknown (with the reason) when the receiver cannot be read."""
    if not receiver_url:
        return PageDeliveries(unknown="the target names no alert_receiver_url")
    url = receiver_url.rstrip("/") + RECEIVER_PATH
    try:
        with http_client(timeout=timeout) as client:
            # the receiver keeps what came before too: it sends only what arrived since
            response = client.get(url, params={"since": f"{since:.3f}"})
    except httpx.TransportError as error:
        return PageDeliveries(unknown=str(classify_transport_error("alert-receiver", url, error)))
    if response.status_code != 200:
        return PageDeliveries(unknown=str(ProbeError("alert-receiver", url, f"HTTP {response.status_code}")))
    try:
        deliveries = response.json()
    except ValueError:
        return PageDeliveries(unknown=f"{url} did not answer JSON")
    if not isinstance(deliveries, list):
        return PageDeliveries(unknown=f"{url} did not answer a list of deliveries")
    recent = [d for d in deliveries if isinstance(d, dict) and float(d.get("received_at", 0.0)) >= since]
    return PageDeliveries(pages=pages_from_deliveries(recent))


def first_page(pages: tuple[Page, ...], fault_at: float, names: tuple[str, ...]) -> Page | None:
    """The first page for one of ``names`` that the fault caused.

    A page for an alert that was already firing before the fault (``startsAt`` before it, e.g. a
    repeat notification of an earlier experiment's alert) is not this fault's detection."""
    for page in pages:
        if page.alert not in names or page.delivered_at < fault_at:
            continue
        if page.started_at is not None and page.started_at < fault_at - _SLACK_S:
            continue
        return page
    return None
