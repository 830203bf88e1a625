"""The /v1 API: bearer auth, validation errors with a message, committed writes, and quiet logs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import psycopg
import pytest

if TYPE_CHECKING:
    from conftest import ApiFactory, ApiProcess, PostgresServer

pytestmark = pytest.mark.integration

VALID = {
    "source": "diesel-generator-2",
    "quantity": 12.5,
    "unit": "L",
    "occurred_at": "2026-03-01T06:30:00+02:00",
}


def post(api: ApiProcess, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        api.base_url + "/v1/activities", json=body, headers=api.auth_headers if headers is None else headers
    )


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, "Bearer"),
        ({"Authorization": "Bearer not-the-token"}, 'Bearer error="invalid_token"'),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "Bearer"),
    ],
    ids=["missing", "wrong token", "wrong scheme"],
)
def test_v1_without_a_valid_bearer_token_is_401_with_a_bearer_challenge(
    api_server: ApiProcess, headers: dict[str, str], challenge: str
) -> None:
    for answer in (
        httpx.get(api_server.base_url + "/v1/activities?limit=1", headers=headers),
        httpx.get(api_server.base_url + "/v1/activities/1", headers=headers),
        post(api_server, VALID, headers=headers),
    ):
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == challenge
        assert "token" in answer.json()["detail"]


def test_a_created_activity_is_committed_before_the_201(
    api_server: ApiProcess, postgres_server: PostgresServer
) -> None:
    created = post(api_server, VALID)
    assert created.status_code == 201
    new_id = created.json()["id"]
    # a separate session sees the row at once: the service answered only after COMMIT
    with psycopg.connect(postgres_server.conninfo) as conn:
        row = conn.execute(
            "SELECT source, quantity, unit FROM activities WHERE id = %s", (new_id,)
        ).fetchone()
    assert row == ("diesel-generator-2", 12.5, "L")

    fetched = httpx.get(api_server.base_url + f"/v1/activities/{new_id}", headers=api_server.auth_headers)
    assert fetched.status_code == 200
    assert fetched.json()["occurred_at"].startswith("2026-03-01T04:30:00")
    newest = httpx.get(api_server.base_url + "/v1/activities?limit=1", headers=api_server.auth_headers)
    assert newest.status_code == 200
    assert newest.json()["items"][0]["id"] == new_id
    assert newest.json()["count"] == 1


def test_an_unknown_activity_is_404(api_server: ApiProcess) -> None:
    answer = httpx.get(api_server.base_url + f"/v1/activities/{2**62}", headers=api_server.auth_headers)
    assert answer.status_code == 404
    assert "no activity" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**VALID, "quantity": -1}, "quantity"),
        ({**VALID, "quantity": "lots"}, "quantity"),
        ({**VALID, "occurred_at": "2026-03-01T06:30:00"}, "occurred_at"),
        ({**VALID, "source": ""}, "source"),
        ({**VALID, "source": "gen\u0000erator"}, "source"),
        ({**VALID, "colour": "red"}, "colour"),
        ({k: v for k, v in VALID.items() if k != "unit"}, "unit"),
        ([VALID], "body"),
    ],
    ids=["negative", "not a number", "naive time", "empty source", "NUL", "unknown field", "missing", "list"],
)
def test_bad_input_is_422_with_a_message_naming_the_field(
    api_server: ApiProcess, body: Any, field: str
) -> None:
    answer = post(api_server, body)
    assert answer.status_code == 422
    assert answer.json()["message"].startswith("invalid request: ")
    assert field in answer.json()["message"]


@pytest.mark.parametrize(
    ("raw_body", "field"),
    [
        (
            '{"source": "a\\ud800", "quantity": 1, "unit": "kWh", "occurred_at": "2026-01-01T00:00:00Z"}',
            "source",
        ),
        (
            '{"source": "a", "quantity": 1, "unit": "kWh", "occurred_at": "0001-01-01T00:00:00+14:00"}',
            "occurred_at",
        ),
        (
            '{"source": "a", "quantity": 1, "unit": "kWh", "occurred_at": "9999-12-31T23:59:59-14:00"}',
            "occurred_at",
        ),
        ('{"source": "a", "quantity": 1, "unit": "kWh", "occurred_at": 0}', "occurred_at"),
    ],
    ids=["lone surrogate", "year 0 in UTC", "year 10000 in UTC", "unix time"],
)
def test_input_that_could_not_be_stored_or_read_back_is_422(
    api_server: ApiProcess, raw_body: str, field: str
) -> None:
    headers = {**api_server.auth_headers, "Content-Type": "application/json"}
    answer = httpx.post(api_server.base_url + "/v1/activities", content=raw_body, headers=headers)
    assert answer.status_code == 422, answer.text
    assert field in answer.json()["message"]
    listing = httpx.get(api_server.base_url + "/v1/activities?limit=100", headers=api_server.auth_headers)
    assert listing.status_code == 200


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_a_limit_outside_1_to_100_is_422(api_server: ApiProcess, limit: str) -> None:
    answer = httpx.get(api_server.base_url + f"/v1/activities?limit={limit}", headers=api_server.auth_headers)
    assert answer.status_code == 422
    assert "limit" in answer.json()["message"]


def test_an_unknown_query_parameter_is_422_not_silently_ignored(api_server: ApiProcess) -> None:
    answer = httpx.get(api_server.base_url + "/v1/activities?limt=1", headers=api_server.auth_headers)
    assert answer.status_code == 422
    assert "query.limt: unknown query parameter" in answer.json()["message"]


def test_tokens_never_appear_in_the_logs_but_requests_do(api_server: ApiProcess) -> None:
    wrong = "wrong-token-that-must-not-be-logged"
    httpx.get(api_server.base_url + "/v1/activities?limit=1", headers={"Authorization": f"Bearer {wrong}"})
    httpx.get(api_server.base_url + "/v1/activities?limit=1", headers=api_server.auth_headers)
    logs = api_server.logs
    assert '"path": "/v1/activities", "status": 401' in logs
    assert '"path": "/v1/activities", "status": 200' in logs
    assert api_server.token not in logs
    assert wrong not in logs
    assert api_server.env["OFFGRIDFLOW_DATABASE_PASSWORD"] not in logs


def test_even_debug_logs_carry_no_token_and_no_password(api_factory: ApiFactory) -> None:
    api = api_factory(env={"OFFGRIDFLOW_LOG_LEVEL": "DEBUG"}, wait="ready")
    post(api, VALID)
    httpx.get(api.base_url + "/v1/activities?limit=1", headers={"Authorization": "Bearer guessed-token-123"})
    api.stop()
    logs = api.logs
    assert '"level": "debug"' in logs, "DEBUG logging is on"
    for secret in (api.token, "guessed-token-123", api.env["OFFGRIDFLOW_DATABASE_PASSWORD"]):
        assert secret not in logs
