"""The synthetic monitor: the runbook's read-only checks (Triage 1, Verification 1-5) on a fixed
interval, as Prometheus metrics per runbook step (``offgridflow-runbook monitor``).

:mod:`.checks` runs one look and judges it with the runbook's own steps; :mod:`.schedule` repeats it
on a fixed rate without ever overlapping two runs; :mod:`.metrics` keeps the last run and renders
the text exposition format; :mod:`.server` serves ``/metrics`` and ``/healthz`` on 127.0.0.1.
The monitor only reads: it never writes to a target, whatever the target allows.
"""

from __future__ import annotations

__all__: list[str] = []
