"""The Docker Engine API over its socket, with httpx: every read the Docker driver makes of a target.

The driver reads containers (listed by label, inspected), engine events, logs, execs in a container,
stats and the registry's answer about an image; it kills, starts and restarts containers and runs a
one-off ``pg_isready`` container. All of it is a few plain HTTP calls on the engine's socket, so it is
made with httpx, which the probes use anyway, instead of the Docker SDK: importing the SDK (and
``requests`` under it) was a tenth of a second of every check run. The SDK stays for what needs its
container specs (``specs.ensure``: creating the stack's containers), imported when a change is made.

Errors are :class:`EngineError` (``status_code`` and the engine's own ``explanation``), the absent
container :class:`NoSuchContainer`, a bounded wait that ran out :class:`EngineTimeout`.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from offgridflow_runbook.probes.transport import BoundedTransport

__all__ = [
    "ContainerInfo",
    "EngineClient",
    "EngineError",
    "EngineTimeout",
    "NoSuchContainer",
    "demultiplex",
    "engine_endpoint",
]

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_TIMEOUT_SECONDS = 60.0
# a container's whole log is one answer (``kubectl logs`` reads it whole too): far above the stack's
MAX_ANSWER_BYTES = 256 * 2**20
# the frame header of a container's multiplexed output: stream (1 byte), 3 zero bytes, size (uint32 BE)
_FRAME_HEADER = struct.Struct(">BxxxL")


def engine_endpoint() -> str:
    """The engine endpoint the docker CLI and SDK use: ``DOCKER_HOST``, else the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


class EngineError(Exception):
    """The engine refused a call (``status_code``, its ``explanation``) or did not answer (no status)."""

    def __init__(self, explanation: str, status_code: int | None = None) -> None:
        super().__init__(explanation)
        self.explanation = explanation
        self.status_code = status_code


class NoSuchContainer(EngineError):
    """The engine has no container by that name or id (404)."""


class EngineTimeout(EngineError):
    """A call the engine holds open (a container's wait) did not end within its bound."""


@dataclass(frozen=True)
class ContainerInfo:
    """One container as the engine inspects it: what the SDK's ``Container`` offered the driver."""

    attrs: dict[str, Any] = field(repr=False)

    @classmethod
    def from_inspect(cls, attrs: dict[str, Any]) -> ContainerInfo:
        return cls(attrs)

    @property
    def id(self) -> str:
        return str(self.attrs["Id"])

    @property
    def name(self) -> str:
        return str(self.attrs.get("Name", "")).lstrip("/")

    @property
    def status(self) -> str:
        return str(self.attrs.get("State", {}).get("Status", ""))

    @property
    def labels(self) -> dict[str, str]:
        return dict((self.attrs.get("Config") or {}).get("Labels") or {})

    @property
    def tty(self) -> bool:
        return bool((self.attrs.get("Config") or {}).get("Tty"))


def demultiplex(raw: bytes) -> bytes:
    """A non-TTY container's stdout and stderr, in the order written, without the frame headers
    the engine puts before each chunk. A truncated last frame keeps what arrived."""
    out = bytearray()
    offset = 0
    while offset + _FRAME_HEADER.size <= len(raw):
        _stream, size = _FRAME_HEADER.unpack_from(raw, offset)
        offset += _FRAME_HEADER.size
        out += raw[offset : offset + size]
        offset += size
    return bytes(out)


def _transport_and_base(endpoint: str) -> tuple[BoundedTransport, str]:
    """The transport and base URL of ``unix:///path`` or ``tcp://host:port`` (plain HTTP): the probes'
    transport (each call ends by its timeouts added up), with a larger bound on an answer (a log)."""
    if endpoint.startswith("unix://"):
        transport = BoundedTransport(uds=endpoint.removeprefix("unix://"), max_answer_bytes=MAX_ANSWER_BYTES)
        return transport, "http://docker"
    if endpoint.startswith(("tcp://", "http://")) and not os.environ.get("DOCKER_TLS_VERIFY"):
        address = endpoint.split("://", 1)[1].rstrip("/")
        return BoundedTransport(max_answer_bytes=MAX_ANSWER_BYTES), f"http://{address}"
    raise EngineError(
        f"DOCKER_HOST={endpoint!r}: only unix:// and tcp:// engine endpoints without TLS are supported"
    )


class EngineClient:
    """The calls the Docker driver makes, on the engine at ``endpoint`` (``unix://`` or ``tcp://``).

    Each call ends within ``timeout`` seconds per connect, write and read, as the SDK's client did
    (``docker.from_env(timeout=60)``). Environment proxies are never used: the engine is local."""

    def __init__(self, endpoint: str, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.endpoint = endpoint
        transport, base = _transport_and_base(endpoint)
        self._http = httpx.Client(transport=transport, base_url=base, timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the one place a call is made ------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        options: dict[str, Any] = {"params": params, "json": body}
        if timeout is not None:
            options["timeout"] = timeout
        try:
            response = self._http.request(method, path, **options)
        except httpx.TimeoutException as error:
            raise EngineTimeout(f"{method} {path}: no answer in time ({error.__class__.__name__})") from None
        except httpx.HTTPError as error:
            raise EngineError(f"{method} {path}: {error.__class__.__name__}: {error}") from None
        if response.status_code >= 400:
            raise _refusal(response)
        return response

    # -- reads ------------------------------------------------------------------------------------
    def ping(self) -> None:
        self._call("GET", "/_ping")

    def containers(self, *, labels: Sequence[str] = ()) -> list[ContainerInfo]:
        """The containers (running or not) carrying every label of ``labels`` (``key=value``),
        inspected; one that went away between the listing and its inspection is left out: it is gone."""
        found = []
        for container_id in self.container_ids(labels=labels):
            container = self.container(container_id)
            if container is not None:
                found.append(container)
        return found

    def container_ids(self, *, labels: Sequence[str] = ()) -> list[str]:
        """The ids of the containers (running or not) carrying every label of ``labels``, uninspected."""
        params: dict[str, Any] = {"all": "1"}
        if labels:
            params["filters"] = _filters({"label": list(labels)})
        return [str(summary["Id"]) for summary in self._call("GET", "/containers/json", params=params).json()]

    def container(self, name: str) -> ContainerInfo | None:
        """The container named (or with the id) ``name``; None when there is none."""
        try:
            return ContainerInfo.from_inspect(self._call("GET", f"/containers/{quote(name)}/json").json())
        except NoSuchContainer:
            return None

    def events(self, *, since: datetime, until: float, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """The engine's events from ``since`` to ``until`` (a Unix time: the engine holds the answer
        open until then), matching ``filters``, oldest first."""
        params = {
            "since": f"{since.timestamp():.9f}",
            "until": f"{until:.9f}",
            "filters": _filters(filters),
        }
        return list(_json_lines(self._call("GET", "/events", params=params).text.splitlines()))

    def logs(self, container: ContainerInfo, *, tail: int | None = None, timestamps: bool = False) -> str:
        """The container's stdout and stderr together (its last ``tail`` lines), as text."""
        params = {"stdout": "1", "stderr": "1", "timestamps": "1" if timestamps else "0"}
        if tail is not None:
            params["tail"] = str(tail)
        raw = self._call("GET", f"/containers/{container.id}/logs", params=params).content
        return (raw if container.tty else demultiplex(raw)).decode("utf-8", "replace")

    def exec(self, container_id: str, command: Sequence[str], *, user: str = "") -> tuple[int, str]:
        """``command`` run in the running container: (its exit code, its stdout and stderr). The
        engine refuses (409) a container that is not running."""
        created = self._call(
            "POST",
            f"/containers/{container_id}/exec",
            body={"Cmd": list(command), "AttachStdout": True, "AttachStderr": True, "User": user},
        ).json()
        exec_id = str(created["Id"])
        output = self._call("POST", f"/exec/{exec_id}/start", body={"Detach": False, "Tty": False}).content
        code = self._call("GET", f"/exec/{exec_id}/json").json().get("ExitCode")
        return int(code if code is not None else -1), demultiplex(output).decode("utf-8", "replace")

    def stats(self, container_id: str) -> dict[str, Any]:
        """One reading of the engine's stats for the container (its collector's next tick)."""
        answer: dict[str, Any] = self._call(
            "GET", f"/containers/{container_id}/stats", params={"stream": "0"}
        ).json()
        return answer

    def pull_refusal(self, image: str) -> str | None:
        """What the registry answers, asked now, about ``image``: None when it can be pulled, else
        the engine's explanation (an unknown tag, an unreachable registry)."""
        try:
            self._call("GET", f"/distribution/{image}/json")
        except EngineError as error:
            if error.status_code is None:
                raise  # the engine did not answer: that is not the registry's answer
            return error.explanation
        return None

    # -- changes ----------------------------------------------------------------------------------
    def kill(self, container_id: str, *, signal: str = "SIGKILL") -> None:
        self._call("POST", f"/containers/{container_id}/kill", params={"signal": signal})

    def start(self, container_id: str) -> None:
        self._call("POST", f"/containers/{container_id}/start")

    def restart(self, container_id: str, *, timeout: int = 10) -> None:
        """Stop (SIGTERM, SIGKILL after ``timeout`` s) and start the container."""
        self._call(
            "POST",
            f"/containers/{container_id}/restart",
            params={"t": str(timeout)},
            timeout=DEFAULT_TIMEOUT_SECONDS + timeout,
        )

    def create(
        self,
        image: str,
        command: Sequence[str],
        *,
        labels: dict[str, str],
        network_mode: str,
        entrypoint: Sequence[str] = (),
    ) -> str:
        """A container of ``image`` running ``command`` (not started): its id."""
        body = {
            "Image": image,
            "Cmd": list(command),
            "Entrypoint": list(entrypoint),
            "Labels": labels,
            "HostConfig": {"NetworkMode": network_mode},
        }
        return str(self._call("POST", "/containers/create", body=body).json()["Id"])

    def wait(self, container_id: str, *, timeout: float) -> int:
        """The container's exit code once it ends; :class:`EngineTimeout` after ``timeout`` s."""
        answer = self._call("POST", f"/containers/{container_id}/wait", timeout=timeout).json()
        return int(answer["StatusCode"])

    def remove(self, container_id: str, *, force: bool = True) -> None:
        self._call("DELETE", f"/containers/{container_id}", params={"force": "1" if force else "0"})


def _filters(filters: dict[str, Any]) -> str:
    """``filters`` as the engine reads them: every value a list of strings (``"a=b"`` is ``["a=b"]``)."""
    return json.dumps(
        {key: [value] if isinstance(value, str) else list(value) for key, value in filters.items()}
    )


def _refusal(response: httpx.Response) -> EngineError:
    try:
        explanation = str(response.json().get("message") or response.text)
    except ValueError:
        explanation = response.text.strip() or response.reason_phrase
    absent = response.status_code == 404 and "container" in explanation.lower()
    return (NoSuchContainer if absent else EngineError)(explanation, response.status_code)


def _json_lines(lines: Iterable[str]) -> Iterable[dict[str, Any]]:
    for line in lines:
        if line.strip():
            yield json.loads(line)
