"""What Debian packages an image the project builds got: an inventory beside the image.

The images install whatever versions Debian's mirror offers on the day they are built. After each
build the inventory is written to ``.state/images/<image>.dpkg`` (``$OFFGRIDFLOW_INVENTORY_DIR``
elsewhere): the image's reference and ID, then ``dpkg-query -W`` of the image, one
``package<TAB>version`` line each, sorted. An image without dpkg (``FROM scratch``:
a static Go binary) says so. ``scripts/lib/docker-build.sh`` writes the same format for the images
the kind scripts build. :func:`inventory_problems` says which image has no inventory, or one of
another build (its ID differs).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

from offgridflow_runbook.project import project_root

__all__ = [
    "DPKG_FORMAT",
    "NO_DPKG",
    "Inventory",
    "inventory_dir",
    "inventory_path",
    "inventory_problems",
    "write_inventory",
]

DPKG_FORMAT = "${Package}\\t${Version}\\n"
NO_DPKG = "# no dpkg-query in the image: no Debian packages (FROM scratch)"
INVENTORY_DIR_ENV = "OFFGRIDFLOW_INVENTORY_DIR"
_UNSAFE = re.compile(r"[/:@]")


def inventory_dir() -> Path:
    """Where the inventories are kept: ``$OFFGRIDFLOW_INVENTORY_DIR``, else the project's .state/images."""
    configured = os.environ.get(INVENTORY_DIR_ENV)
    return Path(configured) if configured else project_root() / ".state" / "images"


def inventory_path(reference: str, directory: Path | None = None) -> Path:
    """``127.0.0.1_5000_offgridflow-api_v1.3.0.dpkg`` for ``127.0.0.1:5000/offgridflow-api:v1.3.0``."""
    return (directory or inventory_dir()) / f"{_UNSAFE.sub('_', reference)}.dpkg"


@dataclass(frozen=True)
class Inventory:
    """One image's inventory: its reference, ID, and package -> version (None: no dpkg in it)."""

    reference: str
    image_id: str
    packages: dict[str, str] | None

    def render(self) -> str:
        lines = [f"# image: {self.reference}", f"# id: {self.image_id}"]
        if self.packages is None:
            lines.append(NO_DPKG)
        else:
            lines += [f"{name}\t{version}" for name, version in sorted(self.packages.items())]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Inventory:
        """The inventory in ``text``; ValueError when it is not one (no image or ID line)."""
        header: dict[str, str] = {}
        packages: dict[str, str] = {}
        no_dpkg = False
        for line in text.splitlines():
            if line == NO_DPKG:
                no_dpkg = True
            elif line.startswith("# ") and ": " in line:
                key, _, value = line[2:].partition(": ")
                header[key] = value
            elif line.strip():
                name, version, *_ = [*line.split("\t"), ""]
                if not version:
                    raise ValueError(f"not a package<TAB>version line: {line!r}")
                packages[name] = version
        if "image" not in header or "id" not in header:
            raise ValueError("no '# image:' or '# id:' line")
        return cls(header["image"], header["id"], None if no_dpkg and not packages else packages)


def _dpkg_query(client: docker.DockerClient, reference: str) -> dict[str, str] | None:
    """The image's packages, from dpkg-query in a throw-away container without network."""
    container = client.containers.create(
        reference, ["-W", f"-f={DPKG_FORMAT}"], entrypoint=["dpkg-query"], user="0", network_disabled=True
    )
    try:
        try:
            container.start()
        except APIError as error:
            # the runtime cannot start a program the image does not have: a FROM scratch image
            explanation = str(error.explanation)
            if "executable file not found" in explanation or "no such file" in explanation:
                return None
            raise
        status = int(container.wait(timeout=120).get("StatusCode", -1))
        output = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
    finally:
        container.remove(force=True)
    if status != 0:
        raise RuntimeError(f"dpkg-query in {reference} failed with exit code {status}")
    return Inventory.parse(f"# image: -\n# id: -\n{output}").packages or {}


def write_inventory(client: docker.DockerClient, reference: str, directory: Path | None = None) -> Path:
    """Write the inventory of the image ``reference`` (just built) and return its path."""
    image_id = str(client.images.get(reference).id)
    inventory = Inventory(reference, image_id, _dpkg_query(client, reference))
    path = inventory_path(reference, directory)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(inventory.render(), encoding="utf-8")
    partial.replace(path)  # a reader never sees half an inventory
    return path


def inventory_problems(
    client: docker.DockerClient, references: list[str], directory: Path | None = None
) -> list[str]:
    """One line per image of ``references`` (present in the engine) whose inventory is missing,
    unreadable, or of another build than the image's current ID."""
    problems = []
    for reference in references:
        try:
            image_id = str(client.images.get(reference).id)
        except ImageNotFound:
            continue  # not built here: nothing to inventory
        path = inventory_path(reference, directory)
        try:
            inventory = Inventory.parse(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            problems.append(f"{reference}: no inventory ({path})")
            continue
        except ValueError as error:
            problems.append(f"{reference}: {path} is not an inventory ({error})")
            continue
        if (inventory.reference, inventory.image_id) != (reference, image_id):
            of = f"{inventory.reference} {inventory.image_id}"
            problems.append(f"{reference}: {path} is of {of}, the image is {image_id}")
    return problems
