"""JSON logs on stdout, one object per line: `{"ts", "level", "logger", "event", ...fields}`.

Callers pass structured fields with `extra={"fields": {...}}`. Request lines carry the method, path and
status only: headers (and with them bearer tokens) are never logged.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

LOGGER_NAME = "offgridflow_api"


class JsonFormatter(logging.Formatter):
    """Formats a record as a single JSON line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage().strip(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route this package's, uvicorn's and psycopg's logs to stdout as JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "psycopg", "psycopg.pool"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # the access log would print raw URLs with query strings; the app logs its own request lines
    logging.getLogger("uvicorn.access").disabled = True
    # the pool logs every failed connection attempt at WARNING; the supervisor reports outages itself
    logging.getLogger("psycopg.pool").setLevel(max(logging.getLevelName(level), logging.ERROR))


def get_logger(name: str = "") -> logging.Logger:
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def log_event(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log `event` with structured `fields`."""
    logger.log(level, event, extra={"fields": fields})
