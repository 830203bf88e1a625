"""``kubectl exec``: run a command in a pod over the API server's exec websocket."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import websocket
from kubernetes.client import ApiClient, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import stream

from offgridflow_runbook.platforms.base import CommandResult, PlatformError
from offgridflow_runbook.platforms.kubernetes.client import Connection

EXEC_TIMEOUT_SECONDS = 20.0
# kubernetes' websocket client connects and waits for the upgrade with no timeout of its own: the whole
# exec, handshake included, is held to this (an API server that accepts and never upgrades, seen only
# in tests, would otherwise hold a check, a triage or a game day for ever)
EXEC_DEADLINE_SECONDS = 35.0 + EXEC_TIMEOUT_SECONDS


def run_in_pod(connection: Connection, pod: str, container: str, command: Sequence[str]) -> CommandResult:
    """Run ``command`` in ``pod``/``container`` and wait (bounded) for its exit code and output.

    ``kubernetes.stream`` swaps the ``request`` method of the client it is given while it runs, so
    the exec gets a client of its own: reads running at the same time on the platform's client
    (the checks observe concurrently) must not be sent down the websocket.
    """
    outcome: list[CommandResult | BaseException] = []

    def run() -> None:
        exec_client = ApiClient(configuration=connection.client.configuration)
        try:
            outcome.append(_run(connection, CoreV1Api(exec_client), pod, container, command))
        except BaseException as error:  # handed to the caller's thread, raised there
            outcome.append(error)
        finally:
            exec_client.close()
            exec_client.rest_client.pool_manager.clear()

    # a daemon thread: one stuck in the handshake is left behind and cannot keep the process alive
    worker = threading.Thread(target=run, name=f"exec-{pod}", daemon=True)
    worker.start()
    worker.join(EXEC_DEADLINE_SECONDS)
    if not outcome:
        raise PlatformError(
            f"{connection.where}: could not exec {' '.join(command)} in pod {pod}: "
            f"no answer within {EXEC_DEADLINE_SECONDS:g}s"
        )
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _run(
    connection: Connection, core: CoreV1Api, pod: str, container: str, command: Sequence[str]
) -> CommandResult:
    action = f"exec {' '.join(command)} in pod {pod}"
    try:
        client = stream(
            core.connect_get_namespaced_pod_exec,
            pod,
            connection.target.namespace,
            command=list(command),
            container=container,
            # kubectl's query: lowercase booleans, and stdin/tty left out rather than "false".
            stderr="true",
            stdout="true",
            _preload_content=False,
        )
        try:
            client.run_forever(timeout=EXEC_TIMEOUT_SECONDS)
            output = client.read_stdout() + client.read_stderr()
            if client.is_open():
                raise PlatformError(f"{action}: no exit within {EXEC_TIMEOUT_SECONDS:.0f}s")
            code = client.returncode
        finally:
            client.close()
            # After the server's close frame the client skips closing its socket; release it.
            if getattr(client, "sock", None) is not None:
                client.sock.shutdown()
    except ApiException as error:
        # The websocket client reports a refused upgrade as status 0 with the handshake in reason.
        reason = str(error.reason or error).split(" -+-+- ")[0]
        raise PlatformError(f"{connection.where}: could not {action}: {reason}") from None
    except (websocket.WebSocketException, OSError) as error:
        raise PlatformError(f"{connection.where}: could not {action}: {error}") from None
    return CommandResult(command=tuple(command), exit_code=int(code), output=output)
