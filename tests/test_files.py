"""``files.read_user_text``: a file a user named is read only when it is a regular file of sane size.
``files.replace_user_text``: a file a user named is written whole or not at all, and only a file.
``files.create_user_text``: a file is created whole, and only where none is."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from offgridflow_runbook.files import (
    NotARegularFile,
    TooLarge,
    create_user_text,
    read_user_text,
    replace_user_text,
)


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


# -- replace_user_text ---------------------------------------------------------------------------------
def test_a_written_file_holds_the_text_is_readable_by_others_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "offgridflow.prom"
    replace_user_text(path, "offgridflow_synthetic_run_success 1\n")
    assert path.read_text(encoding="utf-8") == "offgridflow_synthetic_run_success 1\n"
    assert path.stat().st_mode & 0o777 == 0o644  # node_exporter reads it as a user of its own
    assert [entry.name for entry in tmp_path.iterdir()] == ["offgridflow.prom"]


def test_a_reader_of_the_old_file_sees_it_whole_while_the_new_one_replaces_it(tmp_path: Path) -> None:
    # what the textfile collector relies on: a file opened before the write is the old one, whole
    path = tmp_path / "offgridflow.prom"
    path.write_text("old 1\n" * 1000, encoding="utf-8")
    with path.open(encoding="utf-8") as reading:
        replace_user_text(path, "new 2\n")
        assert reading.read() == "old 1\n" * 1000
    assert path.read_text(encoding="utf-8") == "new 2\n"


@pytest.mark.parametrize("device", ["/dev/null", "/dev/full"])
def test_a_device_is_never_replaced(device: str) -> None:
    before = os.stat(device)
    with pytest.raises(NotARegularFile) as raised:
        replace_user_text(device, "x")
    assert raised.value.strerror == "not a regular file (a device, pipe or socket)"
    after = os.stat(device)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)


def test_a_directory_or_a_pipe_is_refused_and_kept(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        replace_user_text(tmp_path, "x")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(NotARegularFile):
        replace_user_text(fifo, "x")
    assert fifo.is_fifo()
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["fifo"]


def test_a_missing_directory_is_file_not_found_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        replace_user_text(tmp_path / "gone" / "offgridflow.prom", "x")
    assert not (tmp_path / "gone").exists()


def test_a_write_that_fails_leaves_the_old_file_as_it_was_and_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "offgridflow.prom"
    path.write_text("old 1\n", encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):
        replace_user_text(path, "half written \ud800")  # a lone surrogate: no UTF-8 for it
    assert path.read_text(encoding="utf-8") == "old 1\n"
    assert [entry.name for entry in tmp_path.iterdir()] == ["offgridflow.prom"]


# -- create_user_text ----------------------------------------------------------------------------------
def test_of_many_creators_at_once_exactly_one_creates_the_file_and_it_is_whole(tmp_path: Path) -> None:
    path = tmp_path / "running.json"
    won: list[int] = []
    lost: list[int] = []

    def create(number: int) -> None:
        try:
            create_user_text(path, f"{number}\n" * 1000)
        except FileExistsError:
            lost.append(number)
        else:
            won.append(number)

    threads = [threading.Thread(target=create, args=(number,)) for number in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(won) == 1
    assert len(lost) == 15
    assert path.read_text(encoding="utf-8") == f"{won[0]}\n" * 1000
    assert path.stat().st_mode & 0o777 == 0o644
    assert [entry.name for entry in tmp_path.iterdir()] == ["running.json"]


def test_creating_where_a_file_is_keeps_that_file(tmp_path: Path) -> None:
    path = tmp_path / "running.json"
    path.write_text("first\n", encoding="utf-8")
    with pytest.raises(FileExistsError):
        create_user_text(path, "second\n")
    assert path.read_text(encoding="utf-8") == "first\n"
    assert [entry.name for entry in tmp_path.iterdir()] == ["running.json"]
