"""The stack's images: built from ``deploy/docker`` only when their inputs changed (a hash label)."""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from offgridflow_runbook.environments.local.inventory import inventory_problems, write_inventory
from offgridflow_runbook.environments.local.lock import file_lock
from offgridflow_runbook.environments.local.preflight import StackError
from offgridflow_runbook.platforms.docker.names import (
    API_REPOSITORY,
    BASE_IMAGE,
    BROKEN_API_DEFECT,
    BROKEN_API_TAG,
    CURRENT_API_TAG,
    INPUTS_HASH_LABEL,
    MONITOR_IMAGE,
    POSTGRES_IMAGE,
    TOOLS_IMAGE,
    docker_dir,
)
from offgridflow_runbook.project import project_root
from offgridflow_runbook.runbook.commands import known_good_tag

Say = Callable[[str], None]


def _hash_files(paths: Iterable[Path], *extra: str) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(project_root())).encode())
        digest.update(path.read_bytes())
    for value in extra:
        digest.update(value.encode())
    return digest.hexdigest()[:16]


def _image_label(client: docker.DockerClient, reference: str) -> str | None:
    try:
        labels = client.images.get(reference).labels or {}
    except ImageNotFound:
        return None
    return labels.get(INPUTS_HASH_LABEL)


def keep_inventory(client: docker.DockerClient, reference: str) -> None:
    """Write the image's Debian package inventory when it has none of this build (an image built
    before inventories were kept gets one without a rebuild)."""
    if inventory_problems(client, [reference]):
        write_inventory(client, reference)


def ensure_base_image(client: docker.DockerClient, say: Say) -> str:
    """``debian:bookworm-slim``: kept when present, else pulled, else built with debootstrap."""
    try:
        image_id = str(client.images.get(BASE_IMAGE).id)
        keep_inventory(client, BASE_IMAGE)
        return image_id
    except ImageNotFound:
        pass
    say(f"{BASE_IMAGE} is missing: pulling it, or building it with debootstrap (a few minutes)")
    script = project_root() / "scripts" / "build-base-image.sh"
    result = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"could not get {BASE_IMAGE}: {result.stderr.strip() or result.stdout.strip()}")
    say(result.stdout.strip())
    write_inventory(client, BASE_IMAGE)
    return str(client.images.get(BASE_IMAGE).id)


def _build(client: docker.DockerClient, dockerfile: str, tag: str, inputs: str, **buildargs: str) -> None:
    try:
        client.images.build(
            path=str(docker_dir()),
            dockerfile=dockerfile,
            tag=tag,
            network_mode="host",
            rm=True,
            forcerm=True,
            labels={INPUTS_HASH_LABEL: inputs},
            buildargs=buildargs or None,
        )
    except BuildError as error:
        tail = "\n".join(str(line.get("stream", line.get("error", ""))).rstrip() for line in error.build_log)
        raise StackError(f"building {tag} from deploy/docker/{dockerfile} failed:\n{tail[-2000:]}") from None
    write_inventory(client, tag)
    # The build took the tag from the previous build of these inputs: without this, every change to
    # the API's source would leave a few hundred MB behind. Images a container still uses are kept.
    client.images.prune(filters={"dangling": True, "label": INPUTS_HASH_LABEL})


def ensure_support_images(client: docker.DockerClient, base_id: str, say: Say) -> None:
    """The tools image (Prometheus, Alertmanager, exporter, registry, receiver) and PostgreSQL."""
    folder = docker_dir()
    wanted = {
        TOOLS_IMAGE: (
            "tools.Dockerfile",
            [
                folder / "tools.Dockerfile",
                folder / "alert_receiver.py",
                folder / "event_recorder.py",
                folder / "api_service.py",
                folder / "stack_engine.py",
            ],
        ),
        POSTGRES_IMAGE: (
            "postgres.Dockerfile",
            [folder / "postgres.Dockerfile", folder / "postgres-entrypoint.sh"],
        ),
    }
    for tag, (dockerfile, inputs) in wanted.items():
        inputs_hash = _hash_files(inputs, base_id)
        if _image_label(client, tag) == inputs_hash:
            keep_inventory(client, tag)
            continue
        say(f"building {tag}")
        _build(client, dockerfile, tag, inputs_hash)


def _api_inputs(base_id: str) -> str:
    root = project_root()
    package = root / "src" / "offgridflow_api"
    sources = [p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    return _hash_files([root / "pyproject.toml", docker_dir() / "api.Dockerfile", *sources], base_id)


# make kind-up builds the same wheelhouse (flock on this file): without it, one build could empty the
# folder while the other's docker build reads it ("offgridflow_runbook-*.whl does not exist")
API_BUILD_LOCK = Path("/tmp/offgridflow-api-images.lock")  # noqa: S108 - shared with flock(1) in kind-up.sh


@contextlib.contextmanager
def api_build_lock(deadline_seconds: float = 900.0) -> Iterator[None]:
    """Hold the lock of the API's wheelhouse and image builds (short: never held around another lock)."""
    with file_lock(API_BUILD_LOCK, deadline_seconds):
        yield


# What `offgridflow-runbook monitor` imports (the synthetic monitor's image installs only these, at the
# versions of pyproject's dependencies): the HTTP probes, the targets file, both platforms' clients.
MONITOR_REQUIREMENTS = ("httpx", "PyYAML", "docker", "kubernetes")
_REQUIREMENT_NAME = re.compile(r"^[A-Za-z0-9._-]+")


def monitor_rules_file() -> Path:
    """The alert rules the monitor's Verification 5 reads its error-rate expression from."""
    return project_root() / "deploy" / "prometheus" / "rules" / "offgridflow.rules.yml"


def monitor_requirements(dependencies: Iterable[str]) -> list[str]:
    """The project's dependencies the monitor needs, as pyproject pins them."""
    wanted = {name.lower() for name in MONITOR_REQUIREMENTS}
    chosen = [d for d in dependencies if (m := _REQUIREMENT_NAME.match(d)) and m.group(0).lower() in wanted]
    if len(chosen) != len(wanted):
        names = ", ".join(MONITOR_REQUIREMENTS)
        raise StackError(f"pyproject.toml's dependencies do not name all of {names}")
    return chosen


def build_wheelhouse(say: Say) -> None:
    """The project's wheel plus the wheels of the ``service`` extra (the API's image) and of what the
    synthetic monitor imports (its image), with the alert rules it reads; built here with our pip."""
    root = project_root()
    wheelhouse = docker_dir() / "wheelhouse"
    shutil.rmtree(wheelhouse, ignore_errors=True)
    wheelhouse.mkdir(parents=True)
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    lists = {
        "service-requirements.txt": project["project"]["optional-dependencies"]["service"],
        "monitor-requirements.txt": monitor_requirements(project["project"]["dependencies"]),
    }
    for name, requirements in lists.items():
        (wheelhouse / name).write_text("\n".join(requirements) + "\n", encoding="utf-8")
    shutil.copy(monitor_rules_file(), wheelhouse / monitor_rules_file().name)
    pip = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(wheelhouse)]
    say("building the API's and the monitor's wheelhouse")
    for arguments in (["--no-deps", str(root)], *(["-r", str(wheelhouse / name)] for name in lists)):
        result = subprocess.run([*pip, *arguments], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise StackError(f"pip wheel {' '.join(arguments)} failed: {result.stderr.strip()[-1500:]}")


def _monitor_inputs(base_id: str) -> str:
    root = project_root()
    package = root / "src" / "offgridflow_runbook"
    sources = [p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    inputs = [root / "pyproject.toml", docker_dir() / "monitor.Dockerfile", monitor_rules_file(), *sources]
    return _hash_files(inputs, base_id)


def ensure_monitor_image(client: docker.DockerClient, base_id: str, say: Say) -> None:
    """The synthetic monitor's image (a local one: the stack runs it from this engine, no registry)."""
    inputs_hash = _monitor_inputs(base_id)
    if _image_label(client, MONITOR_IMAGE) == inputs_hash:
        keep_inventory(client, MONITOR_IMAGE)
        return
    with api_build_lock():
        build_wheelhouse(say)
        say(f"building {MONITOR_IMAGE}")
        _build(client, "monitor.Dockerfile", MONITOR_IMAGE, inputs_hash)


def build_inputs(client: docker.DockerClient) -> dict[str, str]:
    """The inputs hash of the API's and the monitor's images (``api``, ``monitor``), as the stack's
    builds label them: make kind-up labels its builds of the same Dockerfiles with these and skips a
    build whose label already matches. Needs the base image (it is part of the inputs)."""
    try:
        base_id = str(client.images.get(BASE_IMAGE).id)
    except ImageNotFound:
        raise StackError(f"{BASE_IMAGE} is missing: scripts/build-base-image.sh builds it") from None
    return {"api": _api_inputs(base_id), "monitor": _monitor_inputs(base_id)}


def registry_has(reference: str) -> bool:
    """Whether the local registry holds ``reference`` (a HEAD on its manifest)."""
    import httpx

    repository, tag = reference.rsplit(":", 1)
    host, name = repository.split("/", 1)
    try:
        answer = httpx.head(
            f"http://{host}/v2/{name}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=5,
        )
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def api_builds() -> dict[str, dict[str, str]]:
    """Each API tag the stack's registry holds, with its build arguments: the current tag, the older
    one the runbook's Fix 4 sets (so `set image` finds it), and the gate's broken candidate."""
    builds = {tag: {"OFFGRIDFLOW_VERSION": tag.lstrip("v")} for tag in (CURRENT_API_TAG, known_good_tag())}
    # issue 22: the same build with the defect switch baked in (the production tags never set it)
    builds[BROKEN_API_TAG] = {
        "OFFGRIDFLOW_VERSION": BROKEN_API_TAG.lstrip("v"),
        "OFFGRIDFLOW_DEFECT": BROKEN_API_DEFECT,
    }
    return builds


def ensure_api_images(client: docker.DockerClient, base_id: str, say: Say) -> None:
    """Every API tag of :func:`api_builds` in the local registry, rebuilt and pushed only when the
    service changed."""
    inputs_hash = _api_inputs(base_id)
    tags = api_builds()
    up_to_date = all(_image_label(client, f"{API_REPOSITORY}:{tag}") == inputs_hash for tag in tags)
    if up_to_date:
        for tag in tags:
            keep_inventory(client, f"{API_REPOSITORY}:{tag}")
    if up_to_date and all(registry_has(f"{API_REPOSITORY}:{tag}") for tag in tags):
        return
    if not up_to_date:
        with api_build_lock():
            build_wheelhouse(say)
            for tag, buildargs in tags.items():
                say(f"building {API_REPOSITORY}:{tag}")
                reference = f"{API_REPOSITORY}:{tag}"
                _build(client, "api.Dockerfile", reference, inputs_hash, **buildargs)
    for tag in tags:
        say(f"pushing {API_REPOSITORY}:{tag} to the local registry")
        try:
            for line in client.images.push(API_REPOSITORY, tag=tag, stream=True, decode=True):
                if "error" in line:
                    raise StackError(f"pushing {API_REPOSITORY}:{tag} failed: {line['error']}")
        except APIError as error:
            raise StackError(f"pushing {API_REPOSITORY}:{tag} failed: {error.explanation}") from None
