"""Bearer-token authentication for the /v1 and /chaos routes."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

bearer_scheme = HTTPBearer(auto_error=False, description="A token from OFFGRIDFLOW_API_TOKENS")


def unauthorized(detail: str, error: str | None = None) -> HTTPException:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": challenge})


def token_checker(tokens: frozenset[str]) -> Callable[..., Coroutine[Any, Any, None]]:
    """A FastAPI dependency accepting any of `tokens`, compared in constant time."""
    encoded = [token.encode() for token in tokens]

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> None:
        if credentials is None:
            raise unauthorized("missing bearer token")
        offered = credentials.credentials.encode()
        # check every token so timing does not reveal which one matched
        matches = [secrets.compare_digest(offered, token) for token in encoded]
        if not any(matches):
            raise unauthorized("invalid bearer token", error="invalid_token")

    return require_token
