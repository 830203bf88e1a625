"""Connecting to a target's cluster, and turning client failures into messages for the user.

Every platform instance builds its own ``ApiClient`` from the target's kubeconfig and context;
the ``kubernetes`` package's global default configuration is never read or written.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
import yaml
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config import ConfigException, new_client_from_config

from offgridflow_runbook.files import read_user_text
from offgridflow_runbook.platforms.base import PlatformError
from offgridflow_runbook.reporting import shown
from offgridflow_runbook.targets import Target, yaml_problem

__all__ = ["BadRequest", "Connection", "NotFound", "connect"]

# (connect, read) seconds for every API call: a hung API server must not hang a check.
REQUEST_TIMEOUT = (5.0, 30.0)
# ... and a whole answer within their sum, at most this big: the read timeout bounds each wait for a
# byte, so an API server (or a proxy in front of it) that trickles an answer, or one that never ends,
# would otherwise hold a check for as long as it likes (the probes' transport bounds theirs alike)
MAX_ANSWER_BYTES = 64 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024


class NotFound(PlatformError):
    """The object asked for does not exist (HTTP 404); callers that expect this catch it."""


class BadRequest(PlatformError):
    """The API refused the request as it stands (HTTP 400), e.g. logs of a container not started yet."""


def _kubeconfig_path(target: Target) -> Path:
    if target.kubeconfig:
        return _expanded(target, target.kubeconfig, "the target")
    from_env = os.environ.get("KUBECONFIG", "")
    if from_env:
        return _expanded(target, from_env.split(os.pathsep)[0], "KUBECONFIG")
    return _expanded(target, "~/.kube/config", "the default")


def _expanded(target: Target, path: str, source: str) -> Path:
    try:
        return Path(path).expanduser()
    except RuntimeError:  # "~name" for a user this machine does not know, or "~" with no home at all
        home = path.split("/", 1)[0]
        raise PlatformError(
            f"target {target.name!r}: kubeconfig {path!r} (from {source}): cannot expand {home!r}: "
            "no such user, or no home directory"
        ) from None


# what each list of a kubeconfig holds, and the key of each entry's body (the client library reads
# these without checking their type: a wrong one would be an AttributeError deep inside it)
_KUBECONFIG_LISTS = {"contexts": "context", "clusters": "cluster", "users": "user"}


def _kubeconfig_document(target: Target, path: Path) -> dict[str, Any]:
    """The kubeconfig, parsed and of the shape the client library expects, or a one-line PlatformError
    naming the file and what is wrong."""
    where = f"target {target.name!r}: kubeconfig {path}"
    try:
        document = yaml.safe_load(read_user_text(path))
    except UnicodeDecodeError as error:
        raise PlatformError(f"{where} is not UTF-8 text (byte {error.start}: {error.reason})") from None
    except OSError as error:
        raise PlatformError(f"{where} cannot be read: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise PlatformError(f"{where} is not valid YAML: {yaml_problem(error)}") from None
    except RecursionError:
        raise PlatformError(f"{where} is not valid YAML: nested too deeply") from None
    if document is None:  # an empty file: the client library says what it misses
        return {}
    if not isinstance(document, dict):
        raise PlatformError(f"{where} must be a mapping (clusters, contexts, users), not {shown(document)}")
    for key, body in _KUBECONFIG_LISTS.items():
        entries = document.get(key)
        if entries is None:
            continue
        if not isinstance(entries, list):
            raise PlatformError(f"{where}: {key} must be a list of mappings, not {shown(entries)}")
        for entry in entries:
            if not isinstance(entry, dict):
                raise PlatformError(f"{where}: {key} must be a list of mappings, not of {shown(entry)}")
            if entry.get(body) is not None and not isinstance(entry[body], dict):
                raise PlatformError(
                    f"{where}: {key} entry {entry.get('name')!r}: {body} must be a mapping, "
                    f"not {shown(entry[body])}"
                )
    return document


@dataclass
class Connection:
    """One target's API client, and what to call it in messages."""

    client: ApiClient
    target: Target
    context: str
    host: str
    # the cluster the context names in the kubeconfig (kind: ``kind-<name>``)
    cluster: str | None = None

    @property
    def where(self) -> str:
        return f"Kubernetes API {self.host} (context {self.context!r})"

    @contextmanager
    def errors(self, action: str) -> Iterator[None]:
        """Turn what can go wrong while doing ``action`` into a one-line PlatformError."""
        try:
            yield
        except ApiException as error:
            raise self._api_error(error, action) from None
        except urllib3.exceptions.HTTPError as error:
            raise self._transport_error(error, action) from None

    def _transport_error(self, error: urllib3.exceptions.HTTPError, action: str) -> PlatformError:
        reason = getattr(error, "reason", None) or error
        # "HTTPConnection(host='127.0.0.1', port=1): Failed to ..." -> "Failed to ..."
        text = str(reason).split("): ", 1)[-1] if str(reason).startswith("HTTP") else str(reason)
        if isinstance(reason, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError subclass
            return PlatformError(f"{self.where} is unreachable while trying to {action}: {text}")
        if isinstance(reason, urllib3.exceptions.SSLError):
            return PlatformError(f"{self.where}: TLS failed while trying to {action}: {text}")
        if isinstance(reason, urllib3.exceptions.TimeoutError) or isinstance(
            error, urllib3.exceptions.TimeoutError
        ):
            return PlatformError(
                f"{self.where} did not answer within {REQUEST_TIMEOUT[1]:g}s while trying to {action}: {text}"
            )
        return PlatformError(f"{self.where} is unreachable while trying to {action}: {text}")

    def _api_error(self, error: ApiException, action: str) -> PlatformError:
        message = _status_message(error)
        if error.status == 401:
            return PlatformError(
                f"{self.where} rejected the credentials (401 Unauthorized) while trying to {action}; "
                "renew the token or certificate of the kubeconfig user"
            )
        if error.status == 403:
            return PlatformError(
                f"{self.where}: the kubeconfig user may not {action} in namespace "
                f"{self.target.namespace!r} (403 Forbidden): {message}"
            )
        if error.status == 404:
            return NotFound(f"{self.where}: not found while trying to {action}: {message}")
        if error.status == 400:
            return BadRequest(f"{self.where}: could not {action} (400 Bad Request): {message}")
        return PlatformError(f"{self.where}: could not {action} ({error.status} {error.reason}): {message}")

    def _body(self, action: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
        deadline = time.monotonic() + sum(REQUEST_TIMEOUT)
        with self.errors(action):
            response = function(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            return self._read_within(response, deadline, action)

    def _read_within(self, response: urllib3.BaseHTTPResponse, deadline: float, action: str) -> bytes:
        """The answer's body, read by ``deadline`` and at most :data:`MAX_ANSWER_BYTES`, else a
        one-line PlatformError; the connection is dropped, not returned to the pool, when cut short."""
        late = threading.Event()
        finished = threading.Event()
        lock = threading.Lock()

        def cut() -> None:
            with lock:  # an answer read whole just before the deadline stays whole
                if not finished.is_set():
                    late.set()
                    response.shutdown()  # a read blocked in the socket returns at once

        timer = threading.Timer(max(0.0, deadline - time.monotonic()), cut)
        timer.daemon = True
        timer.start()
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.stream(_CHUNK_BYTES):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    response.close()
                    raise PlatformError(
                        f"{self.where} answered more than {MAX_ANSWER_BYTES:,} bytes while trying to "
                        f"{action}: not read further"
                    )
                chunks.append(chunk)
            with lock:
                finished.set()
        except urllib3.exceptions.HTTPError:
            if not late.is_set():
                raise
        finally:
            timer.cancel()
        if late.is_set():  # what was read before the cut may look whole: it is not the answer
            response.close()
            raise PlatformError(
                f"{self.where} did not finish answering within {sum(REQUEST_TIMEOUT):g}s while trying "
                f"to {action}"
            )
        return b"".join(chunks)

    def call(self, action: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a generated client method and return its response body as plain JSON."""
        data = self._body(action, function, *args, **kwargs)
        return json.loads(data) if data else {}

    def text(self, action: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> str:
        """Call a generated client method whose answer is text (pod logs), returned as sent."""
        return self._body(action, function, *args, **kwargs).decode("utf-8", errors="replace")

    def close(self) -> None:
        self.client.close()
        # ApiClient.close() stops its thread pool only; the pooled HTTP connections stay open.
        self.client.rest_client.pool_manager.clear()


def _status_message(error: ApiException) -> str:
    try:
        body = json.loads(error.body or "{}")
    except (TypeError, ValueError):
        return str(error.body or error.reason or "").strip()
    return str(body.get("message") or error.reason or "").strip() if isinstance(body, dict) else str(body)


def connect(target: Target) -> Connection:
    """An API client for ``target`` (its kubeconfig and context), or a PlatformError saying why not."""
    path = _kubeconfig_path(target)
    if not path.is_file():
        raise PlatformError(
            f"target {target.name!r}: kubeconfig {path} not found "
            "(set 'kubeconfig' for the target in the targets file, or KUBECONFIG)"
        )
    document = _kubeconfig_document(target, path)
    contexts = [str(entry.get("name", "")) for entry in document.get("contexts") or []]
    if target.kube_context and target.kube_context not in contexts:
        raise PlatformError(
            f"target {target.name!r}: context {target.kube_context!r} is not in {path} "
            f"(contexts there: {', '.join(contexts) or 'none'})"
        )
    configuration = Configuration()
    configuration.retries = 1
    try:
        client = new_client_from_config(
            config_file=str(path),
            context=target.kube_context,
            persist_config=False,
            client_configuration=configuration,
        )
    # AttributeError, TypeError, ValueError: the library assumes a well-formed file and fails with
    # these on what the checks above do not cover (a value of the wrong type in an entry's body)
    except (ConfigException, OSError, AttributeError, TypeError, ValueError, yaml.YAMLError) as error:
        text = " ".join(str(error).split()) or type(error).__name__
        raise PlatformError(f"target {target.name!r}: cannot use kubeconfig {path}: {text}") from None
    context = target.kube_context or str(document.get("current-context", "?"))
    return Connection(
        client=client,
        target=target,
        context=context,
        host=configuration.host,
        cluster=_context_cluster(document, context),
    )


def _context_cluster(document: dict[str, Any], context: str) -> str | None:
    """The cluster name the kubeconfig's ``context`` points at (what the client loaded)."""
    for entry in document.get("contexts") or []:
        if entry.get("name") == context:
            cluster = (entry.get("context") or {}).get("cluster")
            return str(cluster) if cluster is not None else None
    return None
