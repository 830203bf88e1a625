"""The database: a psycopg connection pool, the schema, and a supervisor that reconnects with backoff.

The service starts whether or not PostgreSQL answers. The supervisor probes the database with a fresh
connection, creating the schema on first contact, and retries with exponential backoff and jitter while
it is down; readiness reports the last reason. Pooled connections are checked before use, so broken
ones (after a database restart) are discarded and replaced without restarting the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from offgridflow_api.backoff import Backoff
from offgridflow_api.config import Settings
from offgridflow_api.logs import get_logger, log_event

SCHEMA_LOCK_ID = 0x0FF6_1D_F1  # serialises schema creation between replicas starting together
SCHEMA = """
CREATE TABLE IF NOT EXISTS activities (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source TEXT NOT NULL,
    quantity DOUBLE PRECISION NOT NULL,
    unit TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
ACTIVITY_COLUMNS = "id, source, quantity, unit, occurred_at, created_at"
HEALTHY_PROBE_INTERVAL_SECONDS = 2.0
# the pool gives up a reconnection chain after this long; the next request starts a fresh one, so a
# long outage never leaves the pool sleeping through a long backoff after the database is back
POOL_RECONNECT_TIMEOUT_SECONDS = 5.0
# a request never waits longer than this on a hung database (plus psycopg's own cancellation time)
QUERY_TIMEOUT_SECONDS = 5.0

logger = get_logger("db")


class DatabaseUnavailable(Exception):
    """The database could not serve a request within the timeout."""


@dataclass(frozen=True)
class NewActivity:
    source: str
    quantity: float
    unit: str
    occurred_at: datetime


def _describe(error: BaseException) -> str:
    if isinstance(error, PoolTimeout | TimeoutError):
        return "no database connection within the timeout"
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _consume_outcome(task: asyncio.Task[None]) -> None:
    # an abandoned readiness check may fail after nobody waits for it; that is expected, not news
    if not task.cancelled():
        task.exception()


class Database:
    """Connection pool, schema and reconnection supervisor for one service process."""

    def __init__(self, settings: Settings, backoff: Backoff | None = None) -> None:
        self._conninfo = settings.conninfo()
        self.timeout_seconds = settings.db_timeout_seconds
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Any]] = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=settings.db_pool_max,
            open=False,
            timeout=settings.db_timeout_seconds,
            check=AsyncConnectionPool.check_connection,
            reconnect_timeout=POOL_RECONNECT_TIMEOUT_SECONDS,
            name="offgridflow",
        )
        self._backoff = backoff or Backoff()
        self._supervisor: asyncio.Task[None] | None = None
        self._pending_check: asyncio.Task[None] | None = None
        self.schema_ready = False
        self.available = False
        self.last_error: str | None = "not connected yet"

    async def start(self) -> None:
        await self.pool.open(wait=False)
        self._supervisor = asyncio.create_task(self._supervise(), name="database-supervisor")

    async def close(self) -> None:
        for task in (self._supervisor, self._pending_check):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, timeout=2.0)
        await self.pool.close(timeout=5.0)
        log_event(logger, logging.INFO, "database pool closed")

    async def _probe(self) -> None:
        """While healthy, `SELECT 1` through the pool; otherwise a fresh connection, for the real reason."""
        async with asyncio.timeout(self.timeout_seconds + 1.0):
            if self.schema_ready and self.available:
                await self._select_one(self.timeout_seconds)
                return
            async with await psycopg.AsyncConnection.connect(self._conninfo) as conn:
                if not self.schema_ready:
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
                    await conn.execute(SCHEMA)
                    await conn.commit()
                    self.schema_ready = True
                    log_event(logger, logging.INFO, "database schema ready")
                else:
                    await conn.execute("SELECT 1")

    async def _supervise(self) -> None:
        failures = 0
        outage_started = time.monotonic()
        while True:
            try:
                await self._probe()
            except Exception as error:  # whatever the failure, the supervisor keeps going
                if failures == 0:
                    outage_started = time.monotonic()
                self.available = False
                self.last_error = _describe(error)
                delay = self._backoff.delay(failures)
                failures += 1
                log_event(
                    logger,
                    logging.WARNING,
                    "database unavailable, retrying",
                    attempt=failures,
                    retry_in_seconds=round(delay, 2),
                    reason=self.last_error,
                )
                await asyncio.sleep(delay)
                continue
            if not self.available:
                log_event(
                    logger,
                    logging.INFO,
                    "database available",
                    failed_attempts=failures,
                    outage_seconds=round(time.monotonic() - outage_started, 2) if failures else 0.0,
                )
                await self._discard_broken_connections()
            failures = 0
            self.available = True
            self.last_error = None
            await asyncio.sleep(HEALTHY_PROBE_INTERVAL_SECONDS)

    async def _discard_broken_connections(self) -> None:
        # pooled connections that died with the old server would otherwise each fail one request
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self.timeout_seconds + 1.0):
                await self.pool.check()

    async def _select_one(self, timeout_seconds: float) -> None:
        async with self.pool.connection(timeout=timeout_seconds) as conn:
            await conn.execute("SELECT 1")

    async def readiness(self, timeout_seconds: float) -> str | None:
        """None when the database answers `SELECT 1` within `timeout_seconds`, else the reason.

        The check runs as its own task: on a hung server psycopg spends seconds trying to cancel the
        query, and a readiness probe must not wait for that. At most one check is in flight: a probe
        that comes while one is (the kubelet's and a load balancer's at once) shares its answer, as
        long as it waits for its own; it never answers "unreachable" for a database that answers.
        """
        if not self.schema_ready:
            return f"database unreachable: {self.last_error}"
        check = self._pending_check
        if check is None or check.done():
            check = asyncio.create_task(self._select_one(timeout_seconds), name="readiness-check")
            check.add_done_callback(_consume_outcome)
            self._pending_check = check
        done, _pending = await asyncio.wait({check}, timeout=timeout_seconds)
        if not done:
            check.cancel()  # hung: the next probe starts a check of its own once this one has ended
            return f"database unreachable: no answer within {timeout_seconds:g} s"
        if check.cancelled():  # the probe that started it gave up on it
            return f"database unreachable: no answer within {timeout_seconds:g} s"
        error = check.exception()
        if error is None:
            return None
        reason = self.last_error if not self.available and self.last_error else _describe(error)
        return f"database unreachable: {reason}"

    async def _fetch(self, query: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        try:
            async with asyncio.timeout(QUERY_TIMEOUT_SECONDS), self.pool.connection() as conn:
                cursor = conn.cursor(row_factory=dict_row)
                await cursor.execute(query, params)
                return await cursor.fetchall()
        except (psycopg.OperationalError, PoolTimeout, TimeoutError) as error:
            raise DatabaseUnavailable(_describe(error)) from error

    async def list_activities(self, limit: int) -> list[dict[str, Any]]:
        return await self._fetch(
            f"SELECT {ACTIVITY_COLUMNS} FROM activities ORDER BY id DESC LIMIT %s",  # noqa: S608
            (limit,),
        )

    async def get_activity(self, activity_id: int) -> dict[str, Any] | None:
        rows = await self._fetch(
            f"SELECT {ACTIVITY_COLUMNS} FROM activities WHERE id = %s",  # noqa: S608
            (activity_id,),
        )
        return rows[0] if rows else None

    async def insert_activity(self, activity: NewActivity) -> int:
        """Insert and COMMIT; returns the new id only once the row is durable."""
        try:
            async with (
                asyncio.timeout(QUERY_TIMEOUT_SECONDS),
                self.pool.connection() as conn,
                conn.transaction(),
            ):
                cursor = await conn.execute(
                    "INSERT INTO activities (source, quantity, unit, occurred_at)"
                    " VALUES (%s, %s, %s, %s) RETURNING id",
                    (activity.source, activity.quantity, activity.unit, activity.occurred_at),
                )
                row = await cursor.fetchone()
        except (psycopg.OperationalError, PoolTimeout, TimeoutError) as error:
            raise DatabaseUnavailable(_describe(error)) from error
        if row is None:
            raise DatabaseUnavailable("insert returned no id")
        return int(row[0])

    def pool_stats(self) -> dict[str, int]:
        return self.pool.get_stats()
