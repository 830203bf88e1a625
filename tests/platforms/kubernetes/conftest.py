"""Fixtures for the Kubernetes code path, served by an HTTP Kubernetes API fake on 127.0.0.1.

``kube_fake`` (function scope) starts ``kube_fake_server.KubeFake`` in a thread, writes a kubeconfig
for it into ``tmp_path`` and returns a :class:`KubeFakeEnvironment`:

- ``env.target``: a ``Target`` (platform ``kubernetes``, ``kubeconfig``, context ``kube-fake``,
  namespace ``offgridflow``, chaos and writes allowed) — pass it to ``platform_for(target)``;
- ``env.platform()``: the real ``KubernetesPlatform`` for that target (closed at teardown);
- ``env.fake``: the server state — ``fake.requests`` (every request: method, path, query,
  content type, JSON body; ``fake.writes()``, ``fake.find(method, path_suffix)``), ``fake.objects``
  (``fake.get(prefix, plural, name)``, ``fake.put(...)``), ``fake.pod_logs``, ``fake.exec_results``
  (command tuple → (exit code, output)), ``fake.fail_with`` (answer everything with 401/403/500),
  ``fake.rollouts_succeed`` (False: a template change stalls like a bad image), ``fake.reactions``
  (callables run after each write, to play a controller: see ``test_kube_changes``);
- seeding: ``env.seed_runbook_namespace(hashed_config=False)`` (healthy API at revision 2 whose
  revision 1 ran v1.2.3, postgres-0 ready, endpoints, an Ingress), then the failure modes:
  ``env.add_api_pod(name, ...)`` and the ready-made ``env.oom_killed_pod()``,
  ``env.image_pull_backoff_pod()``, ``env.crash_looping_pod()``, ``env.pending_pod()``;
  ``env.set_log(pod, text, previous=False)``, ``env.add_event(...)``, ``env.add_pod_metrics(...)``.

Fixtures in a conftest are visible only below its directory: put Kubernetes-path tests under
``tests/platforms/kubernetes/`` (name them ``test_kube_*.py``). The fake itself lives in the shared helpers
package, e.g. ``from helpers.kube_fake_environment import CONFIG_ERROR_LOG``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from helpers.kube_fake_environment import KubeFakeEnvironment
from helpers.kube_fake_server import KubeFake, start, stop, write_kubeconfig


@pytest.fixture
def kube_fake(tmp_path) -> Iterator[KubeFakeEnvironment]:
    fake = KubeFake()
    running = start(fake)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", fake.url)
    environment = KubeFakeEnvironment(fake, kubeconfig)
    try:
        yield environment
    finally:
        environment.close()
        stop(running)
