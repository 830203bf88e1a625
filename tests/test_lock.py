"""requirements/lock.txt: every dependency pyproject.toml declares (extras service and dev included),
pinned exactly inside its range and hash-checked; `make venv` re-installs when the lock changes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "lock.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+) \\$")


def locked() -> dict[str, tuple[Version, list[str]]]:
    """Each pinned package: its version and its hashes."""
    pins: dict[str, tuple[Version, list[str]]] = {}
    current = ""
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match.group(1))
            pins[current] = (Version(match.group(2)), [])
        elif line.strip().startswith("--hash=sha256:"):
            pins[current][1].append(line.strip())
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    return [Requirement(text) for text in [*project["dependencies"], *extras["service"], *extras["dev"]]]


@pytest.mark.parametrize("requirement", declared(), ids=str)
def test_every_declared_dependency_is_pinned_inside_its_range(requirement: Requirement) -> None:
    pins = locked()
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement} is not in {LOCK.name}: run the pip-compile line in its header"
    version, hashes = pins[name]
    assert requirement.specifier.contains(version, prereleases=True), (
        f"{name}=={version} is outside {requirement}"
    )
    assert hashes, f"{name} has no hash"


def test_every_pin_has_hashes_and_the_linters_are_pinned() -> None:
    pins = locked()
    assert all(hashes for _, hashes in pins.values())
    assert {"ruff", "mypy"} <= pins.keys()


def test_the_installer_uv_is_pinned_with_a_hash_for_each_linux_platform() -> None:
    pins = [
        line
        for line in (ROOT / "requirements" / "uv.txt").read_text().splitlines()
        if line.startswith("uv==")
    ]
    assert len(pins) == 1, pins
    text = (ROOT / "requirements" / "uv.txt").read_text()
    assert text.count("--hash=sha256:") >= 2


def test_the_unused_types_requests_is_gone() -> None:
    assert "types-requests" not in locked()
    assert "types-requests" not in {canonicalize_name(r.name) for r in declared()}


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not on PATH")
def test_a_changed_lock_makes_the_venv_out_of_date(tmp_path: Path) -> None:
    # `make -q` only asks whether the stamp is up to date: nothing runs, in a copy of its inputs
    inputs = ("Makefile", "pyproject.toml", "requirements/lock.txt", "requirements/uv.txt")
    for name in (*inputs, ".venv/.installed-stamp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("" if name.startswith(".venv") else (ROOT / name).read_text())
    stamp = tmp_path / ".venv" / ".installed-stamp"
    for name in inputs:
        os.utime(tmp_path / name, (1_000, 1_000))
    os.utime(stamp, (2_000, 2_000))

    def up_to_date() -> bool:
        result = subprocess.run(
            ["make", "-q", ".venv/.installed-stamp"],
            cwd=tmp_path,
            capture_output=True,
            timeout=30,
            check=False,
        )
        return result.returncode == 0

    assert up_to_date()
    for name in ("requirements/lock.txt", "requirements/uv.txt"):
        os.utime(tmp_path / name, (3_000, 3_000))
        assert not up_to_date(), f"a changed {name} leaves the venv up to date"
        os.utime(tmp_path / name, (1_000, 1_000))


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not on PATH")
def test_the_venv_is_installed_with_its_bytecode_compiled(tmp_path: Path) -> None:
    # with PYTHONDONTWRITEBYTECODE set nothing writes it later: every Python process would compile
    # pytest, httpx and the project again (a check run's start-up tripled)
    for name in ("Makefile", "pyproject.toml", "requirements/lock.txt", "requirements/uv.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text())
    result = subprocess.run(
        ["make", "-n", "-B", ".venv/.installed-stamp"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    installs = [line for line in result.stdout.splitlines() if "uv pip install" in line]
    assert len(installs) == 2, result.stdout  # the lock, then the project
    assert all("--compile-bytecode" in line for line in installs), installs
    assert re.search(r"python -m compileall -q src checks chaos", result.stdout), result.stdout
