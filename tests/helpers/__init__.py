"""Helpers the suite's tests share: fakes, seeds and file readers, imported as ``helpers.<module>``.

``tests/`` is on ``sys.path`` because pytest imports ``tests/conftest.py`` from it (rootdir-relative
``prepend`` import mode), so every test, conftest and pytester run can import this package.

- ``kube_fake_*``: the HTTP Kubernetes API fake (server, API objects, patches, seeds, the
  ``kube_fake`` fixture's environment) used by ``tests/platforms/kubernetes`` and the triage corpus.
- ``triage_fakes``: a fake platform and fake API/Prometheus answers for triage and step tests.
- ``chaos_fakes``: ``RecordingPlatform``, a platform that records the chaos activities' calls.
- ``gate_fakes``: ``RollingPlatform`` (images rolled out, missing tags stall, ``rollout undo``) and
  ``serving_api``, an API on 127.0.0.1 that answers as the image that platform runs, for the gate.
- ``stack_lock`` / ``kind_pods``: the local stack's lock held by this process; the kind API pods settled.
- ``runbook_copies`` / ``drift_fakes``: edited runbook copies, a fake kubectl and API for drift.
- ``deploy_files``: the repository's manifests, rules and workflows, rendered and loaded.
- ``diagnose_cli``: runs ``offgridflow-runbook diagnose`` as a user would.
- ``local_http``: ``serving(handler)``, a stand-in HTTP server on 127.0.0.1 for one ``with`` block;
  ``answer_json`` sends a JSON answer from its handler.
- ``sigkill_restore``: the SIGKILL matrix (a ``chaos run`` killed during its fault, then
  ``offgridflow-runbook restore``) shared by ``tests/e2e`` and ``tests/kind``.
- ``shell_scripts``: runs a project shell script with a PATH of stand-ins and linked host tools.
- ``skip_policy``: the plugin that fails a CI run on a skip ``tests/expected-skips.txt`` does not list.
"""
