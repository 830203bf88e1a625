"""The FastAPI application: lifespan (pool, supervisor, assaults), auth, error bodies, request logs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import REGISTRY
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from offgridflow_api import routes
from offgridflow_api.assaults import MemoryAssaults
from offgridflow_api.auth import token_checker
from offgridflow_api.config import Settings
from offgridflow_api.db import Database
from offgridflow_api.limits import BodyLimitMiddleware
from offgridflow_api.logs import get_logger, log_event
from offgridflow_api.metrics import PoolCollector, RequestMetricsMiddleware

logger = get_logger("http")


def _version() -> str:
    try:
        return version("offgridflow-runbook")
    except PackageNotFoundError:
        return "0+unknown"


def log_request(method: str, path: str, status: int, seconds: float) -> None:
    # route template and status only: never headers, query strings or bodies
    level = logging.ERROR if status >= 500 else logging.INFO
    log_event(logger, level, "request", method=method, path=path, status=status, ms=round(seconds * 1000, 1))


async def validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # type, location and message only: echoing the input back could return what is not valid text
    problems = [
        {
            "type": problem.get("type", "invalid"),
            "loc": list(problem.get("loc", ())),
            "msg": problem.get("msg", ""),
        }
        for problem in error.errors()
    ]
    summary = "; ".join(f"{'.'.join(str(part) for part in p['loc'])}: {p['msg']}" for p in problems[:5])
    return JSONResponse({"message": f"invalid request: {summary}", "detail": jsonable_encoder(problems)}, 422)


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code != 405:
        return await http_exception_handler(request, error)
    # Starlette's Allow names only the first route on the path; list the methods of all of them
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _child = route.matches(request.scope)
        if match is not Match.NONE:
            allowed |= getattr(route, "methods", None) or set()
    return JSONResponse(
        {"detail": error.detail}, status_code=405, headers={"Allow": ", ".join(sorted(allowed))}
    )


def create_app(settings: Settings, database: Database | None = None) -> FastAPI:
    """Build the application for `settings`; the memory assault route exists only when enabled."""
    db = database or Database(settings)
    assaults = MemoryAssaults()
    collector = PoolCollector(db.pool_stats, lambda: db.available)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        REGISTRY.register(collector)
        await db.start()
        log_event(get_logger(), logging.INFO, "service started", version=app.version)
        try:
            yield
        finally:
            await assaults.stop_all()
            await db.close()
            REGISTRY.unregister(collector)
            log_event(get_logger(), logging.INFO, "service stopped")

    app = FastAPI(
        title="OffGridFlow API",
        version=_version(),
        description="Carbon-activity records for off-grid sites (reference service of the runbook suite).",
        lifespan=lifespan,
    )
    app.state.database = db
    app.state.memory_assaults = assaults
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # the last added is outermost: the body limit answers before routing and auth, and the metrics
    # and request log still count its 413s
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware, on_response=log_request)
    authenticated = [Depends(token_checker(settings.api_tokens))]
    app.include_router(routes.health)
    app.include_router(routes.activities, dependencies=authenticated)
    if "memory" in settings.chaos_assaults:
        app.include_router(routes.chaos, dependencies=authenticated)
    return app
