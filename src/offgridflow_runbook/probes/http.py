"""HTTP reads of the OffGridFlow API (the runbook's ``curl`` lines), with one error type per failure.

Every failure to get an HTTP answer becomes a :class:`ProbeError` subclass whose message is one line
naming the target and the URL, so checks and the CLI can show it without a traceback. An answer with
an error status is *not* an exception (the caller decides), except 401, which is :class:`Unauthorized`
because a wrong token must never look like an unhealthy service.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from offgridflow_runbook.probes import transport
from offgridflow_runbook.probes.transport import BoundedTransport
from offgridflow_runbook.targets import Target

__all__ = [
    "AnswerTooLarge",
    "ApiProbe",
    "DnsFailure",
    "HttpResult",
    "ProbeError",
    "ProbeTimeout",
    "ProxyFailed",
    "TlsError",
    "Unauthorized",
    "Unreachable",
    "bypasses_proxy",
    "classify_transport_error",
    "http_client",
    "shared_ssl_context",
]

DEFAULT_TIMEOUT_SECONDS = 5.0


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's own default: verifying, with certifi's CAs or ``$SSL_CERT_FILE``/``$SSL_CERT_DIR``.

    Built once per process and shared by every client, because loading the CA bundle costs about
    30 ms per ``httpx.Client`` and a look opens several. Verification is the same as each client's own.
    """
    return httpx.create_ssl_context()


def bypasses_proxy(host: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (comma-separated, as curl reads it) sends ``host`` direct: ``*``; the host
    itself or a domain it is in (``example.com`` and ``.example.com`` both cover ``api.example.com``);
    an IP address, or a network holding it (``10.0.0.0/8``). A port after an entry is ignored."""
    host = host.strip("[]").lower()
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if entry == "*":
            return True
        if not entry:
            continue
        if "/" in entry and address is not None:
            with contextlib.suppress(ValueError):
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            continue
        if entry.startswith("[") or entry.count(":") == 1:  # [::1]:8080, example.com:8080
            entry = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry.split("]")[0]
        entry = entry.strip("[]").lstrip(".")
        if host == entry or host.endswith("." + entry):
            return True
    return False


class _Routes(httpx.BaseTransport):
    """A client's transport: one :class:`BoundedTransport` per route, a scheme and the proxy it goes
    through, each made on its route's first request.

    The proxies are the environment's (``http_proxy``, ``https_proxy``, ``all_proxy``, ``no_proxy``,
    upper case too), read when the client is made, as curl and httpx's own client use them; a host
    ``no_proxy`` names goes direct. (httpx's client reads them only without a transport of the
    caller's, and this is one.)

    The https side verifies with :func:`shared_ssl_context`: a look at a target served over plain
    http (the local stack, kind) never loads the CA bundle (30-60 ms of a check run's CPU). The direct
    plain-http side is made with the client, in the thread that makes it: its first use imports
    httpcore (10-20 ms), which would otherwise happen under this transport's lock inside a look,
    with every other read of the look waiting on it."""

    def __init__(self, limits: httpx.Limits | None = None) -> None:
        self._limits = limits
        self._proxies = urllib.request.getproxies_environment()
        # plain http does no TLS: its side needs no CA bundle
        self._transports: dict[tuple[str, str | None], BoundedTransport] = {
            ("http", None): BoundedTransport(limits=limits)
        }
        self._lock = threading.Lock()

    def _proxy(self, scheme: str, host: str) -> str | None:
        proxy = self._proxies.get(scheme) or self._proxies.get("all")
        if not proxy or bypasses_proxy(host, self._proxies.get("no", "")):
            return None
        return proxy

    def _for(self, scheme: str, proxy: str | None) -> BoundedTransport:
        with self._lock:
            if (scheme, proxy) not in self._transports:
                # https verifies as httpx does by default
                context = shared_ssl_context() if scheme == "https" else None
                self._transports[scheme, proxy] = BoundedTransport(
                    ssl_context=context, limits=self._limits, proxy=proxy
                )
            return self._transports[scheme, proxy]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        scheme = "https" if request.url.scheme == "https" else "http"
        try:
            route = self._for(scheme, self._proxy(scheme, request.url.host))
        except ValueError as error:  # a proxy it cannot go through: as httpx says of one
            raise httpx.ProxyError(str(error)) from None
        return route.handle_request(request)

    def close(self) -> None:
        with self._lock:
            for transport in self._transports.values():
                transport.close()
            self._transports.clear()


def http_client(
    *,
    timeout: float,
    transport: httpx.BaseTransport | None = None,
    limits: httpx.Limits | None = None,
    **options: Any,
) -> httpx.Client:
    """An httpx client verifying https as httpx does by default, loading the CA bundle on its first
    https request only; ``limits`` its connection pool's (httpx's defaults when None); ``transport``
    (tests) replaces its own. The environment's proxies are used (``https_proxy``, ``no_proxy``, ...:
    see :class:`_Routes`). Each request ends within three ``timeout`` (connect, write, read: a
    server that answers a byte at a time is not waited on for ever) and reads an answer of at most
    :data:`~offgridflow_runbook.probes.transport.MAX_ANSWER_BYTES` (see ``probes.transport``)."""
    return httpx.Client(timeout=timeout, transport=transport or _Routes(limits), **options)


class ProbeError(Exception):
    """No usable HTTP answer; ``str(error)`` is a one-line message naming the target and the URL."""

    what = "request failed"

    def __init__(self, target: str, url: str, detail: str = "") -> None:
        self.target = target
        self.url = url
        self.detail = detail
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"target {target!r}: {self.what}: {url}{suffix}")


class Unreachable(ProbeError):
    """Connection refused or reset: nothing answers at that address."""

    what = "unreachable, connection refused"


class DnsFailure(ProbeError):
    """The host name does not resolve."""

    what = "DNS lookup failed"


class TlsError(ProbeError):
    """The TLS handshake failed (certificate, protocol)."""

    what = "TLS handshake failed"


class ProbeTimeout(ProbeError):
    """No answer within the deadline."""

    what = "timed out"


class ProxyFailed(ProbeError):
    """The proxy the environment names refused the request or cannot be used (not http or https)."""

    what = "the proxy failed"


class AnswerTooLarge(ProbeError):
    """The answer's body is larger than a probe reads."""

    what = "answer too large"


class Unauthorized(ProbeError):
    """The API answered 401: the bearer token is missing or wrong."""

    what = "unauthorized (HTTP 401), check the bearer token"


_DNS_MARKERS = (
    "name or service not known",
    "temporary failure in name resolution",
    "nodename nor servname",
    "no address associated",
    "getaddrinfo failed",
    "name resolution",
)
_TLS_MARKERS = ("ssl", "tls", "certificate", "wrong_version_number", "handshake")


def _exception_chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def classify_transport_error(target: str, url: str, error: httpx.TransportError) -> ProbeError:
    """Map an httpx transport error to the distinct :class:`ProbeError` the user should see."""
    chain = _exception_chain(error)
    text = " ".join(str(item) for item in chain).lower()
    detail = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    if isinstance(error, httpx.TimeoutException):
        return ProbeTimeout(target, url, detail)
    if isinstance(error, transport.AnswerTooLarge):
        return AnswerTooLarge(target, url, detail)
    if isinstance(error, httpx.ProxyError):
        return ProxyFailed(target, url, detail)
    if any(isinstance(item, ssl.SSLError) for item in chain) or any(m in text for m in _TLS_MARKERS):
        return TlsError(target, url, detail)
    if any(marker in text for marker in _DNS_MARKERS):
        return DnsFailure(target, url, detail)
    return Unreachable(target, url, detail)


@dataclass(frozen=True)
class HttpResult:
    """One HTTP answer: status, body text and how long the round trip took."""

    url: str
    status: int
    text: str
    elapsed_seconds: float

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.text)
        except ValueError:
            return None


class ApiProbe:
    """Reads the API of one target; thread-safe, so several reads can run at once."""

    def __init__(
        self,
        target: Target,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
        keep_alive: bool = True,
    ) -> None:
        """``keep_alive`` False: every read on a new connection, as a new client makes it."""
        self.target = target
        limits = None if keep_alive else httpx.Limits(max_keepalive_connections=0)
        self._client = http_client(
            timeout=timeout, transport=transport, limits=limits, follow_redirects=False
        )

    # -- the runbook's reads ---------------------------------------------------------------------
    def live(self) -> HttpResult:
        """Triage 1: ``curl -f $BASE/health/live``."""
        return self.get(self._url("/health/live"))

    def ready(self) -> HttpResult:
        """Verification 2: ``curl $BASE/health/ready``."""
        return self.get(self._url("/health/ready"))

    def activities(self, limit: int = 1) -> HttpResult:
        """Verification 3: ``GET /v1/activities?limit=N`` with the bearer token; 401 raises."""
        return self.get(self._url(f"/v1/activities?limit={limit}"), authorized=True)

    def post_activity(self, payload: Mapping[str, Any]) -> HttpResult:
        """The write path, ``POST /v1/activities`` (only on targets that allow writes)."""
        if not self.target.allow_writes:
            raise PermissionError(f"target {self.target.name!r} does not allow writes")
        return self.request("POST", self._url("/v1/activities"), authorized=True, json_body=payload)

    def metrics(self) -> HttpResult:
        """Verification 4: ``curl $METRICS_URL`` (port 8081, ``/metrics``)."""
        if not self.target.metrics_url:
            raise ValueError(f"target {self.target.name!r} has no metrics_url")
        return self.get(self.target.metrics_url)

    # -- plumbing ----------------------------------------------------------------------------------
    def memory_assault(self, mib: int, hold_seconds: float) -> HttpResult:
        """``POST /chaos/assaults/memory``: the API allocates and touches ``mib`` MiB for
        ``hold_seconds`` (404 unless the API enables its chaos assaults)."""
        url = self._url(f"/chaos/assaults/memory?mib={mib}&hold_seconds={hold_seconds:g}")
        return self.request("POST", url, authorized=True)

    def get(self, url: str, *, authorized: bool = False) -> HttpResult:
        return self.request("GET", url, authorized=authorized)

    def request(
        self, method: str, url: str, *, authorized: bool = False, json_body: Any = None
    ) -> HttpResult:
        """One request; transport failures and 401 raise a :class:`ProbeError`."""
        headers = {}
        if authorized:
            token = self.target.token
            if token is None:
                raise Unauthorized(self.target.name, url, f"${self.target.token_env} is not set")
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            response = self._client.request(method, url, headers=headers, json=json_body)
        except httpx.TransportError as error:
            raise classify_transport_error(self.target.name, url, error) from None
        elapsed = time.perf_counter() - started
        if response.status_code == 401:
            raise Unauthorized(self.target.name, url)
        return HttpResult(url=url, status=response.status_code, text=response.text, elapsed_seconds=elapsed)

    def _url(self, path: str) -> str:
        return self.target.base_url.rstrip("/") + path

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiProbe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
