"""The deploy gate: a candidate image rolled out, judged by the runbook's checks and drift, and rolled
back (and the rollback verified with Verification 1-5) when it fails.

- ``reference``: image references (``image_reference``), light enough for the command's parser.
- ``verdict``: the gate's model (``Failure``, ``Rollback``, ``GateReport``) and its exit codes.
- ``judge``: the candidate judged: the pytest checks in a subprocess, drift against a baseline.
- ``runner``: ``run_gate``: record, set the image, wait, judge, roll back, verify.

Nothing heavy is imported here: ``offgridflow-runbook`` builds every subcommand's parser at start-up.
"""
