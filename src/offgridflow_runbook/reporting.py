"""Check results for people and schedulers: token redaction and one JSON line per check.

The bearer token must never reach an artifact, so everything written (failure messages, captured
output, report extras, JSON lines) goes through a :class:`Redactor` first.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["REDACTED", "JsonLinesWriter", "Redactor", "secrets_from_environment"]

REDACTED = "***"
# shorter values would redact ordinary words; real tokens are long random strings
_MIN_SECRET_LENGTH = 6


class Redactor:
    """Replaces every known secret value in text with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH)

    def __call__(self, text: str) -> str:
        # longest first, so a secret that contains another is replaced whole
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def value(self, data: Any) -> Any:
        """Redact every string inside a JSON-like value."""
        if isinstance(data, str):
            return self(data)
        if isinstance(data, Mapping):
            return {key: self.value(item) for key, item in data.items()}
        if isinstance(data, list | tuple):
            return [self.value(item) for item in data]
        return data


def secrets_from_environment(*variable_names: str | None) -> list[str]:
    """The values of the named environment variables that are set (the token variables)."""
    return [value for name in variable_names if name and (value := os.environ.get(name))]


class JsonLinesWriter:
    """Appends one redacted JSON object per line; the file is started afresh on creation."""

    def __init__(self, path: Path | str, redactor: Redactor) -> None:
        self.path = Path(path)
        self.redactor = redactor
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        line = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), **record}
        with self.path.open("a", encoding="utf-8") as output:
            output.write(json.dumps(self.redactor.value(line), sort_keys=False) + "\n")
