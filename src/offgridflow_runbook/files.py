"""Reading a file a user named (a targets file, the runbook, a record, a kubeconfig, a rules file),
and writing one that another program reads while it may be written (a metrics file).

``Path.read_text`` reads whatever the path opens: ``/dev/zero`` or a pipe nobody writes to would be
read until the memory runs out, or forever. :func:`read_user_text` reads regular files only, up to
:data:`MAX_BYTES`, and says what else it was given as an :class:`OSError` (whose ``strerror`` the
callers already put in their one-line errors), so every reader refuses such a path the same way.
:func:`replace_user_text` writes a file whole or not at all, and never replaces anything but a file;
:func:`create_user_text` writes one whole, and only where nothing is (of two at once, one wins).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

__all__ = [
    "MAX_BYTES",
    "NotARegularFile",
    "TooLarge",
    "create_user_text",
    "read_user_text",
    "replace_user_text",
]

# what a written file is given: readable by another user (node_exporter reads a metrics file as its own)
_WRITTEN_MODE = 0o644

# far above any file the suite reads (the runbook is ~20 KB, a recorded look well under 1 MB)
MAX_BYTES = 64 * 2**20


class NotARegularFile(OSError):
    """A device, pipe or socket where a file was expected."""


class TooLarge(OSError):
    """A regular file larger than the reader's limit."""


def read_user_text(path: Path | str, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of the regular file at ``path``. OSError for a path that is missing, a
    directory (IsADirectoryError), not a regular file (:class:`NotARegularFile`), larger than
    ``limit`` bytes (:class:`TooLarge`) or unreadable; UnicodeDecodeError for text that is not UTF-8."""
    where = str(path)
    # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer before fstat can say what it is
    descriptor = os.open(where, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), where)
        if not stat.S_ISREG(mode):
            raise NotARegularFile(errno.EINVAL, "not a regular file (a device, pipe or socket)", where)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(descriptor, 1 << 20):
            size += len(chunk)
            if size > limit:  # read, not stat'ed: a file can grow while it is read
                raise TooLarge(errno.EFBIG, f"larger than {limit} bytes", where)
            chunks.append(chunk)
    finally:
        os.close(descriptor)
    return b"".join(chunks).decode("utf-8")


def _written_beside(where: Path, text: str) -> str:
    """A temporary file beside ``where`` holding ``text`` whole, readable by other users: its path."""
    descriptor, temporary = tempfile.mkstemp(dir=where.parent, prefix=f".{where.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, _WRITTEN_MODE)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return temporary


def create_user_text(path: Path | str, text: str) -> None:
    """Create the file at ``path`` holding ``text`` whole, only if nothing is there: FileExistsError
    otherwise (of two callers at once, exactly one creates it). A reader never sees it half written:
    the text is written beside it first, then linked into place."""
    where = Path(path)
    temporary = _written_beside(where, text)
    try:
        os.link(temporary, where)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temporary)


def replace_user_text(path: Path | str, text: str) -> None:
    """Write ``text`` to the file at ``path`` whole or not at all: into a temporary file beside it,
    then renamed over it, so a reader (node_exporter's textfile collector) never sees half a file.
    OSError when ``path`` is a directory (IsADirectoryError), exists as anything but a regular file
    (:class:`NotARegularFile`: a device, pipe or socket is never replaced), or cannot be written; the
    temporary file is removed then, and ``path`` is as it was."""
    where = Path(path)
    with contextlib.suppress(FileNotFoundError):
        mode = os.stat(where).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(where))
        if not stat.S_ISREG(mode):
            raise NotARegularFile(errno.EINVAL, "not a regular file (a device, pipe or socket)", str(where))
    temporary = _written_beside(where, text)
    try:
        os.replace(temporary, where)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
