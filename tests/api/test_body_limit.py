"""Request bodies over OFFGRIDFLOW_MAX_BODY_BYTES are refused with 413 before they are read in full and
before authentication, whether the length is declared or the body is chunked."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import ApiFactory, ApiProcess

pytestmark = pytest.mark.integration

LIMIT = 4096
VALID = {"source": "diesel-generator-2", "quantity": 12.5, "unit": "L", "occurred_at": "2026-03-01T06:30:00Z"}
# how long the service may take to refuse: far below what waiting for the rest of a body would take
ANSWER_WITHIN_S = 5.0


@pytest.fixture(scope="module")
def limited_api(api_factory: ApiFactory) -> ApiProcess:
    return api_factory(env={"OFFGRIDFLOW_MAX_BODY_BYTES": str(LIMIT)}, wait="ready")


def chunks(total: int, size: int = 1024) -> Iterator[bytes]:
    """A body of ``total`` bytes sent in chunks (httpx then sends no Content-Length)."""
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)


def raw_exchange(api: ApiProcess, head: bytes, body: bytes) -> tuple[bytes, float]:
    """Send ``head`` and ``body`` on one connection and keep it open; the answer's bytes and the
    seconds it took. The body is never completed: a service waiting for it would time out here."""
    with socket.create_connection(("127.0.0.1", api.http_port), timeout=ANSWER_WITHIN_S) as connection:
        started = time.monotonic()
        connection.sendall(head + body)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                data = connection.recv(65536)
                if not data:
                    break
                answer += data
        except TimeoutError:
            pass
        return answer, time.monotonic() - started


def status_of(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def test_a_declared_length_over_the_limit_is_413_without_a_token(limited_api: ApiProcess) -> None:
    answer = httpx.post(limited_api.base_url + "/v1/activities", content=b"x" * (LIMIT + 1))
    assert answer.status_code == 413
    assert answer.json() == {"detail": f"request body larger than {LIMIT} bytes"}


def test_a_body_at_the_limit_still_meets_authentication(limited_api: ApiProcess) -> None:
    padded = json.dumps(VALID).encode().ljust(LIMIT)
    assert len(padded) == LIMIT
    assert httpx.post(limited_api.base_url + "/v1/activities", content=padded).status_code == 401
    answer = httpx.post(
        limited_api.base_url + "/v1/activities",
        content=padded,
        headers={**limited_api.auth_headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 201, answer.text


def test_a_chunked_body_over_the_limit_is_413(limited_api: ApiProcess) -> None:
    answer = httpx.post(
        limited_api.base_url + "/v1/activities",
        content=chunks(LIMIT * 4),
        headers=limited_api.auth_headers,
    )
    assert "content-length" not in answer.request.headers
    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert answer.status_code == 413


def test_a_chunked_body_under_the_limit_is_served(limited_api: ApiProcess) -> None:
    body = json.dumps(VALID).encode()
    answer = httpx.post(
        limited_api.base_url + "/v1/activities",
        content=(body[i : i + 10] for i in range(0, len(body), 10)),
        headers={**limited_api.auth_headers, "Content-Type": "application/json"},
    )
    assert answer.request.headers["transfer-encoding"] == "chunked"
    assert answer.status_code == 201, answer.text


def test_a_huge_declared_length_with_a_tiny_body_is_answered_at_once(limited_api: ApiProcess) -> None:
    head = (
        b"POST /v1/activities HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000000000000\r\n\r\n"
    )
    answer, seconds = raw_exchange(limited_api, head, b'{"a": 1}')
    assert status_of(answer) == 413
    assert seconds < ANSWER_WITHIN_S


def test_a_chunked_body_is_refused_once_past_the_limit_not_at_its_end(limited_api: ApiProcess) -> None:
    head = b"POST /v1/activities HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    # past the limit, and the terminating zero-size chunk never sent
    body = b"".join(b"%x\r\n%s\r\n" % (1024, b"x" * 1024) for _ in range(LIMIT // 1024 + 1))
    answer, seconds = raw_exchange(limited_api, head, body)
    assert status_of(answer) == 413
    assert seconds < ANSWER_WITHIN_S


def test_the_service_serves_on_after_refusing(limited_api: ApiProcess) -> None:
    httpx.post(limited_api.base_url + "/v1/activities", content=b"x" * (LIMIT * 10))
    assert httpx.get(limited_api.base_url + "/health/live").status_code == 200
    answer = httpx.get(limited_api.base_url + "/v1/activities?limit=1", headers=limited_api.auth_headers)
    assert answer.status_code == 200


def test_the_default_limit_is_one_mib(api_server: ApiProcess) -> None:
    url = api_server.base_url + "/v1/activities"
    assert httpx.post(url, content=b"x" * (1024 * 1024 + 1)).status_code == 413
    assert httpx.post(url, content=b"x" * (1024 * 1024)).status_code == 401
