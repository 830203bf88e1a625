"""HTTP routes: health, the /v1 activities API and (when enabled) the chaos assaults."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from offgridflow_api.assaults import MAX_HOLD_SECONDS, MAX_MEMORY_MIB, AssaultInProgress, MemoryAssaults
from offgridflow_api.db import Database, DatabaseUnavailable, NewActivity
from offgridflow_api.models import Activity, ActivityCreated, ActivityIn, ActivityList

READINESS_TIMEOUT_SECONDS = 1.0
MAX_ACTIVITY_ID = 2**63 - 1


class ErrorBody(BaseModel):
    detail: str


AUTHENTICATED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "missing or wrong bearer token (with `WWW-Authenticate: Bearer`)",
    }
}
DATABASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorBody, "description": "the database is unavailable"}
}


def reject_unknown_query_parameters(request: Request) -> None:
    """A misspelt query parameter (`limt=1`) is a client bug: say so instead of silently ignoring it."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    known = {param.alias for param in getattr(dependant, "query_params", [])}
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "unknown query parameter"}
                for name in unknown
            ]
        )


health = APIRouter(tags=["health"])
activities = APIRouter(
    prefix="/v1/activities",
    tags=["activities"],
    responses={**AUTHENTICATED_RESPONSES, **DATABASE_RESPONSES},
    dependencies=[Depends(reject_unknown_query_parameters)],
)
chaos = APIRouter(
    prefix="/chaos/assaults",
    tags=["chaos"],
    responses=AUTHENTICATED_RESPONSES,
    dependencies=[Depends(reject_unknown_query_parameters)],
)


def database(request: Request) -> Database:
    db: Database = request.app.state.database
    return db


DatabaseDep = Annotated[Database, Depends(database)]


def unavailable(error: DatabaseUnavailable) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"database unavailable: {error}")


@health.get("/health/live")
async def live() -> dict[str, str]:
    """200 while the process serves; never depends on the database."""
    return {"status": "alive"}


@health.get("/health/ready", responses={503: {"description": "the database does not answer"}})
async def ready(db: DatabaseDep) -> JSONResponse:
    """200 `healthy` when the database answers within 1 s, else 503 `unhealthy` with the reason."""
    reason = await db.readiness(min(READINESS_TIMEOUT_SECONDS, db.timeout_seconds))
    if reason is None:
        return JSONResponse({"status": "healthy", "checks": {"database": "ok"}})
    return JSONResponse(
        {"status": "unhealthy", "checks": {"database": "unavailable"}, "reason": reason},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
    )


@activities.get("", response_model=ActivityList)
async def list_activities(db: DatabaseDep, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> dict[str, Any]:
    """The most recent activities, newest first."""
    try:
        items = await db.list_activities(limit)
    except DatabaseUnavailable as error:
        raise unavailable(error) from error
    return {"items": items, "count": len(items), "limit": limit}


@activities.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ActivityCreated,
    responses={400: {"model": ErrorBody, "description": "the body is not JSON"}},
)
async def create_activity(db: DatabaseDep, activity: ActivityIn) -> dict[str, int]:
    """Record an activity; answers 201 with its id only after the row is committed."""
    try:
        new_id = await db.insert_activity(NewActivity(**activity.model_dump()))
    except DatabaseUnavailable as error:
        raise unavailable(error) from error
    return {"id": new_id}


@activities.get(
    "/{activity_id}", response_model=Activity, responses={404: {"description": "no such activity"}}
)
async def get_activity(db: DatabaseDep, activity_id: Annotated[int, Path(ge=1, le=MAX_ACTIVITY_ID)]) -> Any:
    """One activity by id."""
    try:
        row = await db.get_activity(activity_id)
    except DatabaseUnavailable as error:
        raise unavailable(error) from error
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no activity with id {activity_id}")
    return row


@chaos.post("/memory", responses={409: {"model": ErrorBody, "description": "an assault is already running"}})
async def memory_assault(
    request: Request,
    mib: Annotated[int, Query(ge=1, le=MAX_MEMORY_MIB, description="MiB to allocate and touch")],
    hold_seconds: Annotated[float, Query(gt=0, le=MAX_HOLD_SECONDS)] = 30,
) -> dict[str, float | int]:
    """Allocate and touch `mib` MiB in this process and hold it for `hold_seconds`, then free it.
    One assault at a time: 409 while another is allocating or held."""
    assaults: MemoryAssaults = request.app.state.memory_assaults
    try:
        return await assaults.start(mib, hold_seconds)
    except AssaultInProgress as error:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(error)) from None
