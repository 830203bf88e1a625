"""`offgridflow-api`: validate the configuration, start the metrics port, serve HTTP with uvicorn."""

from __future__ import annotations

import logging
import os
import sys

import uvicorn

from offgridflow_api.app import create_app
from offgridflow_api.config import ConfigError, load_settings
from offgridflow_api.logs import configure_logging, get_logger, log_event
from offgridflow_api.metrics import serve_metrics

EX_CONFIG = 78
GRACEFUL_SHUTDOWN_SECONDS = 10


def main() -> int:
    # INFO until the configuration (and with it the chosen level) is known to be valid
    configure_logging("INFO")
    logger = get_logger()
    try:
        settings = load_settings(os.environ)
    except ConfigError as error:
        log_event(
            logger,
            logging.ERROR,
            "invalid configuration",
            key=error.key,
            value=error.value,
            reason=error.reason,
        )
        return EX_CONFIG
    configure_logging(settings.log_level)
    try:
        serve_metrics(settings.bind, settings.metrics_port)
    except OSError as error:
        log_event(
            logger, logging.ERROR, "cannot serve metrics", port=settings.metrics_port, reason=str(error)
        )
        return 1
    log_event(
        logger,
        logging.INFO,
        "starting",
        bind=settings.bind,
        http_port=settings.http_port,
        metrics_port=settings.metrics_port,
        database=f"{settings.database_host}:{settings.database_port}/{settings.database_name}",
        chaos_assaults=sorted(settings.chaos_assaults),
        **({"defect": settings.defect} if settings.defect else {}),  # a test build says so at start
    )
    uvicorn.run(
        create_app(settings),
        host=settings.bind,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
