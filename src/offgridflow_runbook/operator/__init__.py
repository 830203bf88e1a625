"""The operator game day: people run the runbook, the suite injects, pages, times every phase against
the runbook's budgets, and steps in before the SLA (``offgridflow-runbook gameday --operator``).

- the modes (fault and fix activities, section, pages) are the game day's, read from
  ``chaos/experiments/*.json`` by :mod:`offgridflow_runbook.gameday.modes`;
- :mod:`.desk` - ``gameday ack|call|note|abort``: the state directory the people write to;
- :mod:`.phases` - the phases on one clock and the operator section of the scorecard;
- :mod:`.changes` - the change a runbook fix makes, seen on the target, and its section;
- :mod:`.session` - the loop: inject through the chaos fault activities, then only watch;
  the safety net; abort and SIGINT roll back;
- :mod:`.view` - the live view on 127.0.0.1 (its ack key and button say ``ack`` through the desk);
- :mod:`.record` - the scorecard's operator section, the post-incident record, the proposals.

It sits above ``chaos`` (it calls the chaos fault and fix activities, so the guard, the identity check
and the fault ledger apply) and below ``cli``. How to run one with a team: docs/operator-gameday.md.
"""
