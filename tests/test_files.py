"""``files.read_user_text``: a file a user named is read only when it is a regular file of sane size."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from offgridflow_runbook.files import NotARegularFile, TooLarge, read_user_text


def test_a_regular_utf8_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text("targets:\n  é: {}\n", encoding="utf-8")
    assert read_user_text(path) == "targets:\n  é: {}\n"


def test_a_directory_is_refused_as_one(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError) as raised:
        read_user_text(tmp_path)
    assert raised.value.strerror == "Is a directory"  # as open() says it of a directory


def test_a_missing_file_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_user_text(tmp_path / "nothing")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
def test_a_device_is_refused_before_a_byte_is_read(device: str) -> None:
    with pytest.raises(NotARegularFile, match="not a regular file"):
        read_user_text(device)


def test_a_pipe_nobody_writes_to_is_refused_at_once(tmp_path: Path) -> None:
    # in a child with a deadline: a regression would wait for a writer forever
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code = (
        "import sys\nfrom offgridflow_runbook.files import NotARegularFile, read_user_text\n"
        "try:\n    read_user_text(sys.argv[1])\nexcept NotARegularFile:\n    print('refused')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(fifo)], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout == "refused\n"


def test_a_file_one_byte_over_the_limit_is_too_large_and_one_at_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 10)
    assert read_user_text(path, limit=10) == "x" * 10
    with pytest.raises(TooLarge, match="larger than 9 bytes"):
        read_user_text(path, limit=9)


def test_text_that_is_not_utf8_is_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "binary"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UnicodeDecodeError):
        read_user_text(path)
