"""Settings from the environment (the ConfigMap `offgridflow-config` and Secret `offgridflow-secrets`).

Every variable is validated at start; the first invalid one raises `ConfigError`, which the entry point
turns into one `invalid configuration` log line and exit status 78.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

SECRET_KEYS = frozenset({"OFFGRIDFLOW_DATABASE_PASSWORD", "OFFGRIDFLOW_API_TOKENS"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
KNOWN_ASSAULTS = frozenset({"memory"})
# request bodies: the service's own are small JSON objects; 1 MiB is far above any of them
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_BYTES_CEILING = 64 * 1024 * 1024

T = TypeVar("T")


class ConfigError(ValueError):
    """One invalid setting: which variable, its value (masked for secrets) and why."""

    def __init__(self, key: str, value: str, reason: str) -> None:
        self.key = key
        self.value = "***" if key in SECRET_KEYS and value else value
        self.reason = reason
        super().__init__(f"{key}={self.value!r}: {reason}")


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one service process."""

    bind: str
    http_port: int
    metrics_port: int
    database_host: str
    database_port: int
    database_name: str
    database_user: str
    database_password: str
    api_tokens: frozenset[str]
    db_pool_max: int
    db_timeout_seconds: float
    log_level: str
    chaos_assaults: frozenset[str]
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def conninfo(self) -> str:
        """libpq keyword/value connection string (contains the password: never log it)."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.database_host,
            port=self.database_port,
            dbname=self.database_name,
            user=self.database_user,
            password=self.database_password,
            connect_timeout=max(1, math.ceil(self.db_timeout_seconds)),
            application_name="offgridflow-api",
        )


def _integer(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("must be an integer") from None


def _port(text: str) -> int:
    port = _integer(text)
    if not 1 <= port <= 65535:
        raise ValueError("must be a port number 1..65535")
    return port


def _ip_address(text: str) -> str:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise ValueError("must be an IP address") from None
    return text


def _non_empty(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _pool_max(text: str) -> int:
    size = _integer(text)
    if not 1 <= size <= 100:
        raise ValueError("must be an integer 1..100")
    return size


def _timeout(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not (math.isfinite(seconds) and 0 < seconds <= 30):
        raise ValueError("must be a number of seconds > 0 and <= 30")
    return seconds


def _log_level(text: str) -> str:
    if text.upper() not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return text.upper()


def _tokens(text: str) -> frozenset[str]:
    tokens = frozenset(token.strip() for token in text.split(",") if token.strip())
    if not tokens:
        raise ValueError("must list at least one bearer token (comma-separated)")
    return tokens


def _body_limit(text: str) -> int:
    size = _integer(text)
    if not 1 <= size <= MAX_BODY_BYTES_CEILING:
        raise ValueError(f"must be an integer number of bytes 1..{MAX_BODY_BYTES_CEILING}")
    return size


def _assaults(text: str) -> frozenset[str]:
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = names - KNOWN_ASSAULTS
    if unknown:
        raise ValueError(
            f"unknown assault {sorted(unknown)[0]!r}; known: {', '.join(sorted(KNOWN_ASSAULTS))}"
        )
    return names


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read and validate every OFFGRIDFLOW_* variable; raises `ConfigError` on the first bad one."""

    def read(key: str, parse: Callable[[str], T], default: str | None) -> T:
        raw = environ.get(key, default)
        if raw is None:
            raise ConfigError(key, "", "is required but not set")
        try:
            return parse(raw)
        except ValueError as error:
            raise ConfigError(key, raw, str(error)) from None

    http_port = read("OFFGRIDFLOW_HTTP_PORT", _port, "8080")
    metrics_port = read("OFFGRIDFLOW_METRICS_PORT", _port, "8081")
    if metrics_port == http_port:
        raise ConfigError(
            "OFFGRIDFLOW_METRICS_PORT", str(metrics_port), "must differ from OFFGRIDFLOW_HTTP_PORT"
        )
    return Settings(
        bind=read("OFFGRIDFLOW_BIND", _ip_address, "127.0.0.1"),
        http_port=http_port,
        metrics_port=metrics_port,
        database_host=read("OFFGRIDFLOW_DATABASE_HOST", _non_empty, "127.0.0.1"),
        database_port=read("OFFGRIDFLOW_DATABASE_PORT", _port, "5432"),
        database_name=read("OFFGRIDFLOW_DATABASE_NAME", _non_empty, "offgridflow"),
        database_user=read("OFFGRIDFLOW_DATABASE_USER", _non_empty, "offgridflow"),
        database_password=read("OFFGRIDFLOW_DATABASE_PASSWORD", _non_empty, None),
        api_tokens=read("OFFGRIDFLOW_API_TOKENS", _tokens, None),
        db_pool_max=read("OFFGRIDFLOW_DB_POOL_MAX", _pool_max, "10"),
        db_timeout_seconds=read("OFFGRIDFLOW_DB_TIMEOUT_SECONDS", _timeout, "1.0"),
        log_level=read("OFFGRIDFLOW_LOG_LEVEL", _log_level, "INFO"),
        chaos_assaults=read("OFFGRIDFLOW_CHAOS_ASSAULTS", _assaults, ""),
        max_body_bytes=read("OFFGRIDFLOW_MAX_BODY_BYTES", _body_limit, str(DEFAULT_MAX_BODY_BYTES)),
    )
