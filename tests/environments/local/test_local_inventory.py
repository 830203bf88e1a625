"""The Debian package inventory kept beside each image the project builds: its format, the check that
it is of the image's current build, and (with a Docker Engine) a throw-away build inventoried."""

from __future__ import annotations

import contextlib
import io
import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import docker
import pytest
from docker.errors import DockerException, ImageNotFound

from offgridflow_runbook.environments.local.inventory import (
    NO_DPKG,
    Inventory,
    inventory_path,
    inventory_problems,
    write_inventory,
)
from offgridflow_runbook.platforms.docker.names import BASE_IMAGE


def test_an_inventory_reads_back_as_written() -> None:
    inventory = Inventory(
        "127.0.0.1:5000/offgridflow-api:v1.3.0", "sha256:ab", {"zlib1g": "1:1.2.13", "bash": "5.2"}
    )
    text = inventory.render()
    assert text.splitlines()[:4] == [
        "# image: 127.0.0.1:5000/offgridflow-api:v1.3.0",
        "# id: sha256:ab",
        "bash\t5.2",
        "zlib1g\t1:1.2.13",
    ]
    assert Inventory.parse(text) == inventory
    scratch = Inventory("offgridflow.local/kind/pause:1.0", "sha256:cd", None)
    assert NO_DPKG in scratch.render()
    assert Inventory.parse(scratch.render()) == scratch


def test_a_file_without_the_image_and_id_lines_is_not_an_inventory() -> None:
    with pytest.raises(ValueError, match="no '# image:'"):
        Inventory.parse("bash\t5.2\n")


class StandInImages:
    def __init__(self, ids: dict[str, str]) -> None:
        self.ids = ids

    def get(self, reference: str) -> Any:
        if reference not in self.ids:
            raise ImageNotFound(reference)
        return SimpleNamespace(id=self.ids[reference])


def test_each_present_image_needs_an_inventory_of_its_current_build(tmp_path: Path) -> None:
    client = cast(
        docker.DockerClient, SimpleNamespace(images=StandInImages({"a:1": "sha256:1", "b:1": "sha256:2"}))
    )
    inventory_path("a:1", tmp_path).write_text(Inventory("a:1", "sha256:1", {}).render())
    inventory_path("b:1", tmp_path).write_text(Inventory("b:1", "sha256:old", {}).render())
    problems = inventory_problems(client, ["a:1", "b:1", "c:1"], tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("b:1: ")
    assert "sha256:old" in problems[0]
    assert "sha256:2" in problems[0]
    inventory_path("a:1", tmp_path).unlink()
    assert inventory_problems(client, ["a:1"], tmp_path) == [
        f"a:1: no inventory ({inventory_path('a:1', tmp_path)})"
    ]


@pytest.fixture
def engine() -> Any:
    try:
        client = docker.from_env(timeout=30)
        client.images.get(BASE_IMAGE)
    except (DockerException, ImageNotFound) as error:
        pytest.skip(f"needs a Docker Engine with {BASE_IMAGE}: {error}")
    yield client
    client.close()


@pytest.mark.e2e
def test_a_throw_away_build_is_inventoried_from_its_own_dpkg(engine: Any, tmp_path: Path) -> None:
    tag = f"offgridflow-inventory-test:{secrets.token_hex(4)}"
    scratch = f"offgridflow-inventory-test:scratch-{secrets.token_hex(4)}"
    try:
        engine.images.build(
            fileobj=io.BytesIO(f"FROM {BASE_IMAGE}\nLABEL test=inventory\n".encode()), tag=tag, rm=True
        )
        engine.images.build(fileobj=io.BytesIO(b"FROM scratch\nLABEL test=inventory\n"), tag=scratch, rm=True)
        inventory = Inventory.parse(write_inventory(engine, tag, tmp_path).read_text())
        assert (inventory.reference, inventory.image_id) == (tag, engine.images.get(tag).id)
        assert inventory.packages is not None
        assert {"base-files", "dpkg", "bash"} <= set(inventory.packages)
        assert inventory.packages["base-files"].startswith("12")  # bookworm
        assert Inventory.parse(write_inventory(engine, scratch, tmp_path).read_text()).packages is None
        assert inventory_problems(engine, [tag, scratch], tmp_path) == []
        assert not engine.containers.list(all=True, filters={"ancestor": tag})  # nothing left behind
    finally:
        for reference in (tag, scratch):
            with contextlib.suppress(ImageNotFound):
                engine.images.remove(reference, force=True)
