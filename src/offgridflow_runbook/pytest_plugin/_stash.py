"""What the plugin's parts share in ``config.stash``, and the errors shown as one line."""

from __future__ import annotations

import pytest

from offgridflow_runbook.platforms import PlatformError
from offgridflow_runbook.probes.http import ProbeError
from offgridflow_runbook.probes.platform import PlatformAccess
from offgridflow_runbook.reporting import Redactor
from offgridflow_runbook.targets import Target, TargetError

redactor_key = pytest.StashKey[Redactor]()
access_key = pytest.StashKey[PlatformAccess]()
target_key = pytest.StashKey[Target]()
ONE_LINE_ERRORS = (ProbeError, PlatformError, TargetError)
# where to write how long each read of the snapshot took (benchmarks/bench_checks.py sets it)
TIMINGS_ENV = "OFFGRIDFLOW_SNAPSHOT_TIMINGS"
