"""The pager's path, read: Alertmanager (``alertmanager_url``) and the alert receiver it delivers to
(``alert_receiver_url``). A target that declares them can page; if either does not answer as it
should, no page can be delivered, which a look must say rather than call the target healthy.

Each read returns the :class:`~offgridflow_runbook.probes.http.HttpResult` it got, or raises a
:class:`~offgridflow_runbook.probes.http.ProbeError` whose one-line message says why the answer is
not usable (refused, timed out, an error status, or an answer that is not what that service sends).
"""

from __future__ import annotations

from offgridflow_runbook.probes.http import ApiProbe, HttpResult, ProbeError

__all__ = [
    "ALERTMANAGER_STATUS",
    "RECEIVER_DELIVERIES",
    "RECEIVER_PATH",
    "PagerUnusable",
    "alertmanager_status",
    "receiver_deliveries",
]

ALERTMANAGER_STATUS = "/api/v2/status"  # its cluster and loaded configuration; answers once it is up
RECEIVER_PATH = "/deliveries"  # the webhook receiver's list of what Alertmanager delivered
# ... asked for none of them: whether a page can be delivered needs its answer, not its history
# (which a day of game days made 5 MB long)
RECEIVER_DELIVERIES = f"{RECEIVER_PATH}?limit=0"


class PagerUnusable(ProbeError):
    """An HTTP answer that is not what Alertmanager or the receiver sends."""

    what = "answered, but not as it should"


def _get(probe: ApiProbe, base_url: str, path: str) -> HttpResult:
    url = base_url.rstrip("/") + path
    answer = probe.get(url)
    if not answer.ok:
        raise PagerUnusable(probe.target.name, url, f"HTTP {answer.status}")
    return answer


def alertmanager_status(probe: ApiProbe, base_url: str) -> HttpResult:
    """``GET /api/v2/status``: a JSON object with Alertmanager's loaded ``config``."""
    answer = _get(probe, base_url, ALERTMANAGER_STATUS)
    body = answer.json()
    if not isinstance(body, dict) or "config" not in body:
        raise PagerUnusable(
            probe.target.name, answer.url, "not Alertmanager's status (no JSON with its config)"
        )
    return answer


def receiver_deliveries(probe: ApiProbe, base_url: str) -> HttpResult:
    """``GET /deliveries?limit=0``: the receiver answers with a JSON list (of none of its deliveries)."""
    answer = _get(probe, base_url, RECEIVER_DELIVERIES)
    if not isinstance(answer.json(), list):
        raise PagerUnusable(probe.target.name, answer.url, "not a JSON list of deliveries")
    return answer
