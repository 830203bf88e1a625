"""``kubectl exec``: run a command in a pod over the API server's exec websocket."""

from __future__ import annotations

from collections.abc import Sequence

import websocket
from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from offgridflow_runbook.platforms._kubernetes_client import Connection
from offgridflow_runbook.platforms.base import CommandResult, PlatformError

EXEC_TIMEOUT_SECONDS = 20.0


def run_in_pod(
    connection: Connection, core: CoreV1Api, pod: str, container: str, command: Sequence[str]
) -> CommandResult:
    """Run ``command`` in ``pod``/``container`` and wait (bounded) for its exit code and output."""
    action = f"exec {' '.join(command)} in pod {pod}"
    try:
        with connection.errors(action):
            client = stream(
                core.connect_get_namespaced_pod_exec,
                pod,
                connection.target.namespace,
                command=list(command),
                container=container,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
            )
            client.run_forever(timeout=EXEC_TIMEOUT_SECONDS)
            output = client.read_stdout() + client.read_stderr()
            if client.is_open():
                client.close()
                raise PlatformError(f"{action}: no exit within {EXEC_TIMEOUT_SECONDS:.0f}s")
            code = client.returncode
    except (websocket.WebSocketException, OSError) as error:
        raise PlatformError(f"{connection.where}: could not {action}: {error}") from None
    except ApiException as error:  # the websocket client reports a refused upgrade this way
        raise PlatformError(f"{connection.where}: could not {action}: {error.reason}") from None
    return CommandResult(command=tuple(command), exit_code=int(code), output=output)
