"""The HTTP transport under every probe: httpcore's connection pool, with a deadline for each request
and a bound on the size of its answer.

httpx bounds each step of a request by its timeouts (the connect, every read and every write), not the
request: a server that sends one byte a second, of its headers or its body, is never timed out, and
one that sends an endless body is read until the memory runs out. A check run against such a target
would hang the scheduler that started it. Here a request must end within its connect, write and
read timeouts added up (15 s for the probes' 5 s): no socket operation of it waits past that moment,
and its answer's body is read up to :data:`MAX_ANSWER_BYTES`. A request that keeps within each of
its timeouts is never cut short. Only httpcore's public API is used (its network backend and pool).

httpcore is imported when the first transport is made, as httpx's own transport imports it: a program
that imports the probes and then runs pytest in-process (``offgridflow-runbook check``) has not
imported it, nor anyio under it, before pytest's assertion rewriting is set up for anyio's plugin.
"""

from __future__ import annotations

import contextlib
import functools
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, cast

import httpx

if TYPE_CHECKING:
    import httpcore

__all__ = ["MAX_ANSWER_BYTES", "AnswerTooLarge", "BoundedTransport"]

# far above any answer a probe reads (a /metrics page, a Prometheus query, the receiver's deliveries:
# kilobytes to a few MB), and small enough that the reads of a look, at once, stay a few hundred MB
MAX_ANSWER_BYTES = 16 * 2**20
# the timeouts of a request that add up to its deadline (httpx's "pool" wait is on this process)
_DEADLINE_PARTS = ("connect", "write", "read")


class AnswerTooLarge(httpx.TransportError):
    """The answer's body is larger than the transport reads (the rest is not read)."""


class _Deadline(threading.local):
    """The deadline (``time.monotonic()``) and budget (s) of the request this thread is making."""

    at: float | None = None
    budget: float = 0.0


_current = _Deadline()


@contextlib.contextmanager
def _within(at: float | None, budget: float) -> Iterator[None]:
    saved = (_current.at, _current.budget)
    _current.at, _current.budget = at, budget
    try:
        yield
    finally:
        _current.at, _current.budget = saved


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout``, or less where the current request's deadline comes first; ``expired`` once it has
    passed."""
    if _current.at is None:
        return timeout
    left = _current.at - time.monotonic()
    if left <= 0:
        budget = _current.budget
        raise expired(f"no whole answer within {budget:g} s, its connect, write and read timeouts together")
    return left if timeout is None else min(timeout, left)


class _BoundedStream:
    """A connection (an ``httpcore.NetworkStream``) whose every read and write waits no longer than
    the current request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        import httpcore

        self._stream = stream
        self._timeouts = httpcore.ReadTimeout, httpcore.WriteTimeout, httpcore.ConnectTimeout

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        expired = self._timeouts[0]
        try:
            return self._stream.read(max_bytes, _left(timeout, expired))
        except expired:
            _left(None, expired)  # the deadline cut this read short: say so
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        expired = self._timeouts[1]
        try:
            self._stream.write(buffer, _left(timeout, expired))
        except expired:
            _left(None, expired)
            raise

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> _BoundedStream:
        left = _left(timeout, self._timeouts[2])
        return _BoundedStream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


@contextlib.contextmanager
def _socket_errors(expired: type[Exception], failed: type[Exception]) -> Iterator[None]:
    try:
        yield
    except TimeoutError as error:
        raise expired(str(error)) from None
    except OSError as error:
        raise failed(str(error)) from None


class _UnixStream:
    """An ``httpcore.NetworkStream`` over a connected Unix socket, as httpcore's own sync backend
    makes one; made here because that backend leaves the socket open when its connect fails."""

    def __init__(self, sock: socket.socket) -> None:
        import httpcore

        self._sock = sock
        self._core = httpcore

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _socket_errors(self._core.ReadTimeout, self._core.ReadError):
            self._sock.settimeout(timeout)
            return self._sock.recv(max_bytes)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _socket_errors(self._core.WriteTimeout, self._core.WriteError):
            while buffer:
                self._sock.settimeout(timeout)
                buffer = buffer[self._sock.send(buffer) :]

    def close(self) -> None:
        self._sock.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> _UnixStream:
        raise self._core.UnsupportedProtocol("no TLS over a Unix socket")

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore asks before it reuses an idle connection: readable then means the other end
            # closed it (a Docker engine closes the connection its exec's output went over)
            if self._sock.fileno() < 0:
                return True
            poller = select.poll()
            poller.register(self._sock, select.POLLIN)
            return bool(poller.poll(0))
        return self._sock if info == "socket" else None


class _BoundedBackend:
    """httpcore's own sockets (an ``httpcore.NetworkBackend``), each wrapped in a :class:`_BoundedStream`."""

    def __init__(self) -> None:
        import httpcore

        self._backend = httpcore.SyncBackend()
        self._expired = httpcore.ConnectTimeout

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> _BoundedStream:
        left = _left(timeout, self._expired)
        return _BoundedStream(self._backend.connect_tcp(host, port, left, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> _BoundedStream:
        import httpcore

        left = _left(timeout, self._expired)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(left)
            sock.connect(path)
        except TimeoutError as error:
            sock.close()
            raise httpcore.ConnectTimeout(f"{path}: {error}") from None
        except OSError as error:
            sock.close()
            # the socket's path and why it refused (no such file, permission denied, nobody listening)
            raise httpcore.ConnectError(f"{path}: {error.strerror or error}") from None
        except BaseException:
            sock.close()
            raise
        # the interface of httpcore.NetworkStream, not its class: httpcore is imported only here
        return _BoundedStream(cast("httpcore.NetworkStream", _UnixStream(sock)))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


@functools.cache
def _as_httpx() -> tuple[tuple[type[Exception], type[httpx.TransportError]], ...]:
    """httpcore's errors as httpx's, the most specific first (what httpx's own transport raises)."""
    import httpcore

    return (
        (httpcore.ConnectTimeout, httpx.ConnectTimeout),
        (httpcore.ReadTimeout, httpx.ReadTimeout),
        (httpcore.WriteTimeout, httpx.WriteTimeout),
        (httpcore.PoolTimeout, httpx.PoolTimeout),
        (httpcore.TimeoutException, httpx.TimeoutException),
        (httpcore.ConnectError, httpx.ConnectError),
        (httpcore.ReadError, httpx.ReadError),
        (httpcore.WriteError, httpx.WriteError),
        (httpcore.NetworkError, httpx.NetworkError),
        (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
        (httpcore.LocalProtocolError, httpx.LocalProtocolError),
        (httpcore.ProtocolError, httpx.ProtocolError),
        (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
        (httpcore.ProxyError, httpx.ProxyError),
    )


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as error:
        for theirs, ours in _as_httpx():
            if isinstance(error, theirs):
                raise ours(str(error)) from error
        raise


class _BoundedAnswer(httpx.SyncByteStream):
    """An answer's body, read within its request's deadline and up to ``limit`` bytes."""

    def __init__(self, body: Iterable[bytes], at: float | None, budget: float, limit: int) -> None:
        self._body = body
        self._at = at
        self._budget = budget
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._body)
        read = 0
        while True:
            # the deadline is this request's only while a chunk is read: between chunks the thread
            # may read another answer, under that request's deadline
            with _within(self._at, self._budget), _as_httpx_errors():
                chunk = next(chunks, None)
            if chunk is None:
                return
            read += len(chunk)
            if read > self._limit:
                raise AnswerTooLarge(f"the answer is larger than {self._limit} bytes")
            yield chunk

    def close(self) -> None:
        close = getattr(self._body, "close", None)
        if close is not None:
            with _as_httpx_errors():
                close()


class BoundedTransport(httpx.BaseTransport):
    """HTTP/1.1 over httpcore's connection pool (as httpx's own transport), each request ending within
    its connect, write and read timeouts added up, each answer read up to ``max_answer_bytes``.
    ``ssl_context`` verifies https (None: httpcore's default, for a transport that serves http only).
    ``proxy``: an ``http://`` or ``https://`` proxy URL (credentials in it are sent to the proxy) that
    every request goes through, https tunnelled (CONNECT), as httpx sends through a proxy. ``uds``: the
    path of a Unix socket every connection is made to instead (a local engine's API)."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx.Limits | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        proxy: str | None = None,
        uds: str | None = None,
    ) -> None:
        import httpcore

        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)  # httpx's
        self._max_answer_bytes = max_answer_bytes
        self._core = httpcore
        pool: dict[str, Any] = {
            "ssl_context": ssl_context,
            "max_connections": limits.max_connections,
            "max_keepalive_connections": limits.max_keepalive_connections,
            "keepalive_expiry": limits.keepalive_expiry,
            # httpcore's backend interface, not its class: httpcore is imported only here
            "network_backend": _BoundedBackend(),
        }
        if uds is not None:
            pool["uds"] = uds
        self._pool: httpcore.ConnectionPool
        if proxy is None:
            self._pool = httpcore.ConnectionPool(**pool)
            return
        through = httpx.Proxy(proxy)
        if through.url.scheme not in ("http", "https"):
            raise ValueError(f"proxy {through.url}: only http:// and https:// proxies are supported")
        self._pool = httpcore.HTTPProxy(
            proxy_url=httpcore.URL(
                scheme=through.url.raw_scheme,
                host=through.url.raw_host,
                port=through.url.port,
                target=through.url.raw_path,
            ),
            proxy_auth=through.raw_auth,
            proxy_headers=through.headers.raw,
            **pool,
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        timeouts = request.extensions.get("timeout", {})
        parts = [timeouts.get(part) for part in _DEADLINE_PARTS]
        budget = sum(part for part in parts if part is not None)
        at = time.monotonic() + budget if parts and None not in parts else None  # no timeout: no deadline
        core_request = self._core.Request(
            method=request.method,
            url=self._core.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _within(at, budget), _as_httpx_errors():
            answer = self._pool.handle_request(core_request)
        assert isinstance(answer.stream, Iterable)
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_BoundedAnswer(answer.stream, at, budget, self._max_answer_bytes),
            extensions=answer.extensions,
        )

    def close(self) -> None:
        self._pool.close()
