"""Check results for people and schedulers: token redaction, control characters made visible, and
one JSON line per check.

The bearer token must never reach an artifact, so everything written (failure messages, captured
output, report extras, JSON lines) goes through a :class:`Redactor` first. Text that comes from the
target (events, logs, answers, records) may hold escape sequences that retitle, clear or rewrite a
terminal; :func:`printable` shows them as ``\\x1b`` instead, wherever such text is printed or reported.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "EXIT_USAGE",
    "REDACTED",
    "JsonLinesWriter",
    "Redactor",
    "append_json_line",
    "printable",
    "secrets_from_environment",
    "shown",
]

REDACTED = "***"
# EX_USAGE, the status of every user mistake on every entry point (the command line, pytest): 1 means
# "drift found" or "checks failed", and 2-4 are diagnose's verdicts
EXIT_USAGE = 64
# shorter values would redact ordinary words; real tokens are long random strings
_MIN_SECRET_LENGTH = 6


def _escapes() -> dict[int, str]:
    # C0 (but tab, harmless, and newline, decided per call), DEL, C1 (0x9b is a one-byte CSI), the
    # line and paragraph separators, the bidirectional overrides that reorder what a reader sees, and
    # lone surrogates (which cannot even be written to a UTF-8 terminal)
    codes = [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F)]
    codes += [*range(0x2066, 0x206A), *range(0xD800, 0xE000)]
    named = {0x0A: "\\n", 0x0D: "\\r"}
    return {
        code: named.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        for code in codes
        if code != 0x09
    }


_ESCAPES = _escapes()
_ESCAPES_KEEPING_NEWLINES = {code: text for code, text in _ESCAPES.items() if code != 0x0A}
_SHOWN_MAX = 60


def printable(text: str, *, newlines: bool = True) -> str:
    r"""``text`` with every control character shown as an escape (``\x1b``, ``\r``, ``\x07``, ...), so
        text from a target cannot move the cursor, retitle or clear a terminal, or hide a line. Newlines
        are kept for multi-line blocks (logs, tables); ``newlines=False`` escapes them too, for text that
    must stay on one line."""
    return text.translate(_ESCAPES_KEEPING_NEWLINES if newlines else _ESCAPES)


def shown(value: object) -> str:
    """A value named in a one-line error message: its type and, short, the value itself (``repr``
    escapes control characters and line breaks), e.g. ``the string 'false'``, ``null``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        text = repr(value)
        return f"the string {text if len(text) <= _SHOWN_MAX else text[: _SHOWN_MAX - 4] + '...' + text[0]}"
    if isinstance(value, int | float):
        text = repr(value)
        return f"the number {text if len(text) <= _SHOWN_MAX else text[:_SHOWN_MAX] + '...'}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a value of type {type(value).__name__}"


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
    """Appends one redacted JSON object per line; the file is started afresh on creation. OSError
    when it cannot be created, or a line cannot be written."""

    def __init__(self, path: Path | str, redactor: Redactor) -> None:
        self.path = Path(path)
        self.redactor = redactor
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError as error:
            # mkdir says "File exists" when a file stands where a folder of the path should be
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), error.filename) from None
        self.path.write_text("", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        line = {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), **record}
        with self.path.open("a", encoding="utf-8") as output:
            output.write(json.dumps(self.redactor.value(line), sort_keys=False) + "\n")


def append_json_line(path: Path, document: Mapping[str, Any]) -> None:
    """Append ``document`` to ``path`` as one JSON line, durably: a single ``write`` of the whole line
    (concurrent writers never interleave within it) and ``fsync`` before returning."""
    line = (json.dumps(document, sort_keys=True) + "\n").encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
