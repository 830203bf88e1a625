"""What a game day found about the runbook, as typed records: each finding has an id (what kind of
thing was seen), the mode it was seen in, its evidence (the sentence the reports show) and the
runbook change it earns. Proposals (:mod:`.proposals`) are built from the ids, never by reading
the sentences.

Who writes which id: the chaos activities record ``finding`` events with ``id=`` (``chaos.fixes``,
``chaos.faults``, ``chaos.detection``); the scorer (:mod:`.scorecard`) adds what it judges itself
(alerts, pages, triage, Verification). A ``finding`` event without an id (a log from before ids)
is :attr:`FindingId.UNCLASSIFIED`: shown, never proposed from.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["EARNS", "Change", "Finding", "FindingId"]


class FindingId(StrEnum):
    """What kind of thing a finding saw."""

    # recorded by the chaos activities
    NO_PAGE_IN_TIME = "no-page-in-time"  # chaos.detection.wait_for_page
    FIX_1_DATABASE_CRASH_LOOPING = "fix-1-database-crash-looping"  # chaos.fixes: Fix 1 met CrashLoopBackOff
    FIX_3_CONFIG_EDITED_IN_PLACE = "fix-3-config-edited-in-place"  # chaos.faults: undo cannot restore it
    FIX_3_CONFIGMAP_GENERATED = "fix-3-configmap-generated"  # chaos.faults: offgridflow-config NotFound
    NO_FIX_FOR_2D = "no-fix-for-2d"  # chaos.fixes: the runbook has no fix for 2D; the suite's worked
    # judged by the scorer
    ALERT_BEFORE_FAULT = "alert-before-fault"
    ALERT_SILENT = "alert-silent"  # an alert the experiment names stayed silent (not a must-fire)
    TRIAGE_WRONG_FIRST = "triage-wrong-first"
    TRIAGE_NEVER_RIGHT = "triage-never-right"
    VERIFICATION_LAGGED = "verification-lagged"
    # failures that are also findings about the runbook's paging
    MUST_FIRE_SILENT = "must-fire-silent"
    PAGE_NOT_DELIVERED = "page-not-delivered"
    UNCLASSIFIED = "unclassified"

    @classmethod
    def read(cls, raw: object) -> FindingId:
        """The id an event names; a missing or unknown one is :attr:`UNCLASSIFIED`."""
        try:
            return cls(str(raw))
        except ValueError:
            return cls.UNCLASSIFIED


class Change(StrEnum):
    """A runbook change the game day can propose (``gameday.proposals``)."""

    FIX_3_READ_THE_DEPLOYMENTS_CONFIGMAP = "fix-3-read-the-deployments-configmap"
    FIX_1_DELETE_A_CRASH_LOOPING_DATABASE_POD = "fix-1-delete-a-crash-looping-database-pod"
    ADD_FIX_5_NETWORK = "add-fix-5-network"  # a Fix 5 for Triage 2D: the Service's selector back
    FIX_THE_PAGE = "fix-the-page"  # a failure mode did not page: the alert or its routing
    NAME_THE_ALERT_THAT_PAGED = "name-the-alert-that-paged"  # the silent alert is evidence for it


# the runbook change each kind of finding earns (the others are shown in the reports only)
EARNS: dict[FindingId, Change] = {
    FindingId.FIX_3_CONFIG_EDITED_IN_PLACE: Change.FIX_3_READ_THE_DEPLOYMENTS_CONFIGMAP,
    FindingId.FIX_3_CONFIGMAP_GENERATED: Change.FIX_3_READ_THE_DEPLOYMENTS_CONFIGMAP,
    FindingId.FIX_1_DATABASE_CRASH_LOOPING: Change.FIX_1_DELETE_A_CRASH_LOOPING_DATABASE_POD,
    FindingId.NO_FIX_FOR_2D: Change.ADD_FIX_5_NETWORK,
    FindingId.MUST_FIRE_SILENT: Change.FIX_THE_PAGE,
    FindingId.PAGE_NOT_DELIVERED: Change.FIX_THE_PAGE,
    FindingId.ALERT_SILENT: Change.NAME_THE_ALERT_THAT_PAGED,
}


@dataclass(frozen=True)
class Finding:
    """One finding: its id, the mode it was seen in, the evidence as the reports show it."""

    id: FindingId
    mode: str
    evidence: str

    @property
    def earns(self) -> Change | None:
        """The runbook change this finding is evidence for (None: shown, not proposed)."""
        return EARNS.get(self.id)

    @property
    def cited(self) -> str:
        """``mode: evidence``, as a proposal cites it."""
        return f"{self.mode}: {self.evidence}"
