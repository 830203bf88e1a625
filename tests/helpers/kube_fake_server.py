"""An HTTP Kubernetes API server fake on 127.0.0.1, enough of the REST API for the runbook's commands.

Why not kmock alone: kmock (0.8) serves from an asyncio loop inside async tests, while the
``kubernetes`` client is synchronous (urllib3) and would block that loop; kmock's emulator also
ignores label selectors, applies patches as plain JSON merges (no strategic merge by name) and
has no ``log``/``exec`` subresources (``test_kube_kmock.py`` still cross-checks reads and requests
against it, run in a background loop). This fake runs in a thread, records every request, and
implements: discovery (enough for the real kubectl), list (with equality label selectors), get,
create, delete, strategic-merge / merge / JSON patches (``kube_fake_patches``), pod logs
(``tailLines``, ``previous``), the exec websocket (``v4``/``v5.channel.k8s.io``) and a minimal
Deployment controller (a ReplicaSet revision per template change). Seed helpers: ``kube_fake_seed``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

from helpers.kube_fake_api import DISCOVERY, kind_of, replica_set_object, without_hash
from helpers.kube_fake_patches import json_patch, merge_patch, strategic_merge

JSON = dict[str, Any]
ObjectKey = tuple[str, str, str, str]  # (api prefix "api/v1" | "apis/apps/v1", plural, namespace, name)

# What the API server's strconv.ParseBool takes as true.
_GO_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str | None
    body: Any

    @property
    def params(self) -> dict[str, str]:
        """The query with single values (the last one), for readable assertions."""
        return {key: values[-1] for key, values in self.query.items()}


def _matches(labels: dict[str, str], selector: str | None) -> bool:
    if not selector:
        return True
    for term in selector.split(","):
        key, _, value = term.partition("=")
        if labels.get(key) != value:
            return False
    return True


def _status(code: int, reason: str, message: str) -> JSON:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": code,
        "reason": reason,
        "message": message,
    }


@dataclass
class KubeFake:
    """State and request log of the fake API server; tests seed it and read ``requests``."""

    url: str = ""
    objects: dict[ObjectKey, JSON] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    pod_logs: dict[tuple[str, str, bool], str] = field(default_factory=dict)
    exec_results: dict[tuple[str, ...], tuple[int, str]] = field(default_factory=dict)
    # HTTP status refusing every exec (403: RBAC forbids pods/exec), None to allow it.
    exec_refused: int | None = None
    # Answer every request with this HTTP status (401, 403, 500) to test error messages.
    fail_with: int | None = None
    # When False, a template change starts a rollout that never becomes available (bad image).
    rollouts_succeed: bool = True
    # Seconds the exec websocket upgrade takes (to overlap it with other requests).
    exec_seconds: float = 0.0
    # Controllers a test plays: called as reaction(fake, request) after each successful write,
    # e.g. a StatefulSet recreating the pod the DB-kill fault deleted.
    reactions: list[Callable[[KubeFake, RecordedRequest], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _uid_counter: int = 0

    # -- requests ------------------------------------------------------------------------------
    def writes(self) -> list[RecordedRequest]:
        """The requests that change something (everything but GET)."""
        return [r for r in self.requests if r.method != "GET"]

    def find(self, method: str, path_suffix: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]

    # -- objects -------------------------------------------------------------------------------
    def _uid(self) -> str:
        self._uid_counter += 1
        return f"00000000-0000-0000-0000-{self._uid_counter:012d}"

    def put(self, prefix: str, plural: str, obj: JSON) -> JSON:
        """Store ``obj`` (namespace and name from its metadata) as the API server would."""
        metadata = obj.setdefault("metadata", {})
        metadata.setdefault("namespace", "offgridflow")
        metadata.setdefault("uid", self._uid())
        metadata.setdefault("generation", 1)
        metadata.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        obj.setdefault("kind", kind_of(prefix, plural))
        obj.setdefault("apiVersion", prefix.removeprefix("api/").removeprefix("apis/"))
        self.objects[(prefix, plural, metadata["namespace"], metadata["name"])] = obj
        return obj

    def get(self, prefix: str, plural: str, name: str, namespace: str = "offgridflow") -> JSON | None:
        return self.objects.get((prefix, plural, namespace, name))

    def of_kind(self, prefix: str, plural: str) -> list[JSON]:
        return [o for (p, k, _, _), o in self.objects.items() if (p, k) == (prefix, plural)]

    # -- the minimal Deployment controller ---------------------------------------------------------
    def _on_deployment_change(self, deployment: JSON, old_template: JSON) -> None:
        if without_hash(deployment["spec"]["template"]) == without_hash(old_template):
            return
        metadata = deployment["metadata"]
        metadata["generation"] = int(metadata.get("generation", 1)) + 1
        owned = [
            rs
            for rs in self.of_kind("apis/apps/v1", "replicasets")
            if any(o.get("uid") == metadata["uid"] for o in rs["metadata"].get("ownerReferences", []))
        ]
        revisions = [int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]) for rs in owned]
        revision = str(max(revisions, default=0) + 1)
        template = without_hash(deployment["spec"]["template"])
        same = next((rs for rs in owned if without_hash(rs["spec"]["template"]) == template), None)
        if same is None:
            template_hash = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]
            same = self.put(
                "apis/apps/v1",
                "replicasets",
                replica_set_object(deployment, int(revision), template, template_hash),
            )
        same["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = revision
        metadata.setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision
        replicas = int(deployment["spec"].get("replicas", 1))
        status = deployment.setdefault("status", {})
        status["observedGeneration"] = metadata["generation"]
        status["replicas"] = replicas if self.rollouts_succeed else replicas + 1
        status["updatedReplicas"] = replicas if self.rollouts_succeed else 1
        status["availableReplicas"] = replicas  # the old pods keep serving when a rollout stalls
        status["readyReplicas"] = status["availableReplicas"]

    # -- HTTP ----------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, content_type: str | None, body: Any) -> tuple[int, Any]:
        """Serve one request: (status, JSON or text body)."""
        split = urlsplit(raw_path)
        query = parse_qs(split.query)
        with self.lock:
            self.requests.append(RecordedRequest(method, split.path, query, content_type, body))
            if self.fail_with is not None:
                reason = {401: "Unauthorized", 403: "Forbidden"}.get(self.fail_with, "InternalError")
                return self.fail_with, _status(self.fail_with, reason, f"{reason.lower()} by the fake")
            status, payload = self._route(
                method, split.path, {k: v[-1] for k, v in query.items()}, content_type, body
            )
            if method != "GET" and status < 300:
                for reaction in self.reactions:
                    reaction(self, self.requests[-1])
            return status, payload

    def _route(
        self, method: str, path: str, params: dict[str, str], content_type: str | None, body: Any
    ) -> tuple[int, Any]:
        if method == "GET" and path.rstrip("/") in DISCOVERY:
            return 200, DISCOVERY[path.rstrip("/")]
        parts = path.strip("/").split("/")
        prefix_length = 2 if parts[0] == "api" else 3
        prefix = "/".join(parts[:prefix_length])
        rest = parts[prefix_length:]
        if method == "GET" and prefix == "api/v1" and rest == ["nodes"]:
            # the one cluster-scoped list served: Node objects stored under namespace ""
            nodes = [
                copy.deepcopy(o)
                for (p, k, _, _), o in sorted(self.objects.items())
                if (p, k) == (prefix, "nodes")
            ]
            return 200, {
                "kind": "NodeList",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": "1"},
                "items": nodes,
            }
        if len(rest) < 2 or rest[0] != "namespaces":
            return 404, _status(404, "NotFound", f"the fake does not serve {path}")
        namespace, plural, name, sub = rest[1], rest[2], *[*rest[3:5], None, None][:2]
        key = (prefix, plural, namespace, name or "")
        if name is None:
            if method == "GET":
                selector = params.get("labelSelector")
                items = [
                    copy.deepcopy(o)
                    for (p, k, ns, _), o in sorted(self.objects.items())
                    if (p, k, ns) == (prefix, plural, namespace)
                    and _matches(o["metadata"].get("labels") or {}, selector)
                ]
                if not items and prefix == "apis/metrics.k8s.io/v1beta1" and not self.of_kind(prefix, plural):
                    return 404, _status(404, "NotFound", "the server could not find the requested resource")
                kind = kind_of(prefix, plural) + "List"
                return 200, {
                    "kind": kind,
                    "apiVersion": prefix.removeprefix("api/").removeprefix("apis/"),
                    "metadata": {"resourceVersion": "1"},
                    "items": items,
                }
            if method == "POST":
                obj = copy.deepcopy(body)
                obj.setdefault("metadata", {})["namespace"] = namespace
                if (prefix, plural, namespace, obj["metadata"]["name"]) in self.objects:
                    return 409, _status(
                        409, "AlreadyExists", f'{plural} "{obj["metadata"]["name"]}" already exists'
                    )
                return 201, copy.deepcopy(self.put(prefix, plural, obj))
        obj = self.objects.get(key)
        if obj is None:
            return 404, _status(404, "NotFound", f'{plural} "{name}" not found')
        if sub == "log":
            container = params.get("container", "")
            previous = params.get("previous") in _GO_TRUE
            text = self.pod_logs.get((name or "", container, previous))
            names = [c.get("name") for c in obj.get("spec", {}).get("containers", [])]
            statuses = obj.get("status", {}).get("containerStatuses") or []
            status = next((c for c in statuses if c.get("name") == container), {})
            waiting = (status.get("state") or {}).get("waiting")
            if (
                text is None
                and not previous
                and waiting
                and not (status.get("lastState") or {}).get("terminated")
            ):
                reason = f"is waiting to start: {waiting.get('reason', 'ContainerCreating')}"
                return 400, _status(400, "BadRequest", f'container "{container}" in pod "{name}" {reason}')
            if text is None and not previous and container in names:
                text = ""  # a running container that has not logged anything yet
            if text is None:
                which = "previous terminated" if previous else ""
                return 400, _status(
                    400, "BadRequest", f'{which} container "{container}" in pod "{name}" not found'
                )
            tail = int(params.get("tailLines", "0") or 0)
            lines = text.splitlines(keepends=True)
            return 200, "".join(lines[-tail:] if tail else lines)
        if sub == "exec" and self.exec_refused is not None:
            return self.exec_refused, _status(self.exec_refused, "Forbidden", "pods/exec is forbidden")
        if sub == "exec":
            return (
                (200, "") if method == "GET" else (400, _status(400, "BadRequest", "exec needs a websocket"))
            )
        if sub is not None:
            return 404, _status(404, "NotFound", f"the fake does not serve the {sub} subresource here")
        if method == "GET":
            return 200, copy.deepcopy(obj)
        if method == "DELETE":
            del self.objects[key]
            return 200, copy.deepcopy(obj)
        if method == "PATCH":
            old_template = copy.deepcopy(obj.get("spec", {}).get("template", {}))
            if content_type == "application/json-patch+json":
                json_patch(obj, body)
            elif content_type == "application/merge-patch+json":
                merge_patch(obj, body)
            else:
                strategic_merge(obj, body)
            if plural == "deployments":
                self._on_deployment_change(obj, old_template)
            return 200, copy.deepcopy(obj)
        return 405, _status(405, "MethodNotAllowed", f"{method} not supported by the fake")

    def exec_result(self, command: tuple[str, ...]) -> tuple[int, str]:
        return self.exec_results.get(command, (0, f"{' '.join(command)}: ok\n"))


def _frame(opcode: int, payload: bytes) -> bytes:
    header = bytes([0x80 | opcode])
    if len(payload) < 126:
        header += bytes([len(payload)])
    elif len(payload) < 65536:
        header += bytes([126]) + struct.pack("!H", len(payload))
    else:
        header += bytes([127]) + struct.pack("!Q", len(payload))
    return header + payload


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: KubeFake  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle + delayed ACK cost 40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _body(self) -> tuple[str | None, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0] or None
        return content_type, (json.loads(raw) if raw else None)

    def _serve(self) -> None:
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._serve_exec()
            return
        content_type, body = self._body()
        status, payload = self.fake.handle(self.command, self.path, content_type, body)
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(payload, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _serve_exec(self) -> None:
        status, _ = self.fake.handle("GET", self.path, None, None)
        query = parse_qs(urlsplit(self.path).query)
        if status != 200 or not urlsplit(self.path).path.endswith("/exec"):
            self.send_response(status if status != 200 else 400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        # A slow upgrade: the window in which kubernetes.stream has swapped its client's request().
        time.sleep(self.fake.exec_seconds)
        accept = base64.b64encode(
            hashlib.sha1((self.headers["Sec-WebSocket-Key"] + _WEBSOCKET_GUID).encode()).digest()  # noqa: S324
        ).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        # v5 frames like v4 (it only adds a close channel the server never needs to send here).
        protocol = next(
            (p for p in offered if p in ("v5.channel.k8s.io", "v4.channel.k8s.io")), "v4.channel.k8s.io"
        )
        self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        code, output = self.fake.exec_result(tuple(query.get("command", [])))
        if code == 0:
            error: JSON = {"metadata": {}, "status": "Success"}
        else:
            error = {
                "metadata": {},
                "status": "Failure",
                "message": f"command terminated with non-zero exit code: {code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        self.wfile.write(_frame(0x2, b"\x01" + output.encode()))
        self.wfile.write(_frame(0x2, b"\x03" + json.dumps(error).encode()))
        self.wfile.write(_frame(0x8, struct.pack("!H", 1000)))
        self.wfile.flush()
        self.close_connection = True

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve


@dataclass
class RunningFake:
    fake: KubeFake
    server: ThreadingHTTPServer
    thread: threading.Thread


def start(fake: KubeFake) -> RunningFake:
    """Serve ``fake`` on a free port of 127.0.0.1 in a daemon thread."""
    handler = type("KubeFakeHandler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="kube-fake", daemon=True
    )
    thread.start()
    return RunningFake(fake, server, thread)


def stop(running: RunningFake) -> None:
    running.server.shutdown()
    running.server.server_close()
    running.thread.join(timeout=5)


def write_kubeconfig(
    path: Path,
    server: str,
    *,
    context: str = "kube-fake",
    token: str = "fake-token",  # noqa: S107
    cluster: str = "fake",
) -> Path:
    """A kubeconfig with one cluster, user and context pointing at ``server``."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server}}],
        "users": [{"name": "fake-user", "user": {"token": token}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": cluster, "user": "fake-user", "namespace": "offgridflow"},
            }
        ],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path
